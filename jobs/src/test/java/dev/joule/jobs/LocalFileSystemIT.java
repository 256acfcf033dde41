package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.joule.testing.ProcessStarts;
import dev.joule.udfs.files.NioLocalFileSystem;
import dev.joule.udfs.files.NioLocalFs;
import io.delta.tables.DeltaTable;
import java.net.URI;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileContext;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;

/**
 * The embedded default's {@code file:} file systems are the NIO ones, for Spark's and Delta's
 * file-system calls (FileSystem) and Delta's log store (FileContext), and Delta's commits on them
 * (a new table, an append, a delete with deletion vectors) start no file-system process, where
 * Hadoop's own start a {@code chmod} per file and a {@code readlink} per rename check.
 */
class LocalFileSystemIT extends LocalSparkIT {

  @Test
  void deltaCommitsOnTheEmbeddedDefaultStartNoProcess() throws Exception {
    Configuration conf = spark.sessionState().newHadoopConf();
    assertInstanceOf(NioLocalFileSystem.class, FileSystem.get(URI.create("file:///"), conf));
    assertInstanceOf(NioLocalFs.class, FileContext.getFileContext(URI.create("file:///"), conf).getDefaultFileSystem());
    String t = tmp.resolve("t").toString();
    List<String> processes = ProcessStarts.during(tmp, () -> {
      spark.range(100).write().format("delta").option("delta.enableDeletionVectors", "true").save(t);
      spark.range(100, 150).write().format("delta").mode("append").save(t);
      DeltaTable.forPath(spark, t).delete("id % 10 = 0");
    });
    // Spark's own (getconf for executor metrics, rm at stop) may start at any time; a file system's never.
    assertEquals(List.of(), processes.stream().filter(c -> c.matches("^(chmod|readlink|ls|stat|bash) .*")).toList());
    assertEquals(135, spark.read().format("delta").load(t).count());
  }
}
