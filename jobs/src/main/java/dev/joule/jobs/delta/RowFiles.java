package dev.joule.jobs.delta;

import dev.joule.udfs.files.TableFiles;
import dev.joule.udfs.files.TaskFile;
import dev.joule.udfs.files.TaskOutput;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Writes a Dataset's rows into a table's folder as data files no commit names yet (one per
 * partition that has rows, {@link TableFiles}), in one Spark job, and brings back the files and
 * the distinct values of a key column: what a keyed commit needs, without reading the rows again.
 */
public final class RowFiles {

  private RowFiles() {}

  /** The files written and the keys they hold (Long or String; empty when no key column was named). */
  public record Written(List<TaskOutput.WrittenFile> files, Set<Object> keys) {
    public long rows() {
      return files.stream().mapToLong(TaskOutput.WrittenFile::rows).sum();
    }
  }

  private record Part(ArrayList<TaskOutput.WrittenFile> files, ArrayList<Object> keys) implements Serializable {}

  /** @param keyColumn the column whose values come back, or null for none */
  public static Written write(SparkSession spark, String dir, Dataset<Row> rows, String runTag, String keyColumn) {
    StructType schema = rows.schema();
    TableFiles table = TableFiles.prepare(spark, dir, schema, runTag);
    int key = keyColumn == null ? -1 : schema.fieldIndex(keyColumn);
    DataType keyType = key < 0 ? null : schema.fields()[key].dataType();
    List<Part> parts;
    try {
      parts = parts(rows, dir, table, key, keyType);
    } finally {
      table.release();
    }
    List<TaskOutput.WrittenFile> files = new ArrayList<>();
    Set<Object> keys = new HashSet<>();
    for (Part p : parts) {
      files.addAll(p.files());
      keys.addAll(p.keys());
    }
    return new Written(files, keys);
  }

  private static List<Part> parts(Dataset<Row> rows, String dir, TableFiles table, int key, DataType keyType) {
    return rows.queryExecution().toRdd().toJavaRDD().mapPartitionsWithIndex((index, it) -> {
      TaskContext ctx = TaskContext.get();
      TaskFile file = new TaskFile(dir, table, index, ctx.attemptNumber(), ctx.taskAttemptId());
      ArrayList<Object> keys = new ArrayList<>();
      ArrayList<TaskOutput.WrittenFile> files = new ArrayList<>();
      try {
        while (it.hasNext()) {
          InternalRow r = it.next();
          if (key >= 0 && !r.isNullAt(key)) {
            Object k = r.get(key, keyType);
            keys.add(k instanceof UTF8String u ? u.toString() : k);
          }
          file.write(r);
        }
        file.close(files);
      } catch (RuntimeException | java.io.IOException e) {
        file.abort();
        throw e;
      }
      return List.of(new Part(files, keys)).iterator();
    }, false).collect();
  }
}
