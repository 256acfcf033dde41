package dev.joule.jobs.delta;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.udfs.files.RunColumns;
import dev.joule.udfs.files.TableFiles;
import dev.joule.udfs.files.TaskFile;
import dev.joule.udfs.files.TaskOutput;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

/**
 * Predictions files written with no Spark session ({@link TableFiles#prepareWithoutSession}) are,
 * byte for byte, the ones written with the session's settings, and Spark reads them back.
 */
class TableFilesIT extends dev.joule.jobs.LocalSparkIT {

  @Test
  void withoutASessionTheSameFileByteForByte() throws Exception {
    RunColumns columns = new RunColumns("run-1", "m", "v1", "softmax@int8", 1_796_000_000_000_000L,
        DataTypes.LongType, new StructType()).forNight("nightly:m:2026-12-07", true);
    StructType schema = columns.predictionsSchema();
    String dir = tmp.resolve("files").toString();
    Files.createDirectories(Path.of(dir));
    List<byte[]> written = new ArrayList<>();
    List<TaskOutput.WrittenFile> files = new ArrayList<>();
    TableFiles[] ways = {
        TableFiles.prepareOnDriver(spark, dir, schema, "session"),
        TableFiles.prepareWithoutSession(spark.sessionState().newHadoopConf(), spark.sessionState().conf(), dir, schema,
            "nosession"),
        TableFiles.prepareWithoutSession(new org.apache.hadoop.conf.Configuration(), new SQLConf(), dir, schema,
            "defaults")};
    for (TableFiles way : ways) {
      TaskFile f = TaskFile.forPredictions("predictions", way, 0, 0, 7, columns, List.of("a", "b", "c"));
      float[] scores = new float[3];
      for (long id = 0; id < 5_000; id++) {
        scores[0] = id % 7 / 7f;
        scores[1] = 1 - scores[0];
        scores[2] = 0;
        f.writePrediction(id * 3, (int) (id % 2), scores[(int) (id % 2)], scores, 0, 3);
      }
      List<TaskOutput.WrittenFile> out = new ArrayList<>();
      f.close(out);
      files.addAll(out);
      written.add(Files.readAllBytes(Path.of(out.get(0).path())));
    }
    assertArrayEquals(written.get(0), written.get(1), "the session's settings, without the session");
    assertArrayEquals(written.get(0), written.get(2), "Spark's defaults, as this test session has them");
    for (TaskOutput.WrittenFile f : files) {
      assertEquals(5_000, f.rows());
      assertEquals(new TaskOutput.IntegerRange(0, 14_997), f.firstColumn());
      assertTrue(Files.exists(Path.of(dir, "_joule_keys", f.name() + ".keys")), "a key index: " + f.name());
      assertEquals(5_000, spark.read().parquet(f.path()).where("label IN ('a', 'b') AND size(scores) = 3").count());
    }
  }
}
