package dev.joule.jobs.delta;

import dev.joule.udfs.files.TableFiles;
import dev.joule.udfs.files.TaskOutput;
import java.io.IOException;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.CatalystTypeConverters;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.StructType;

/**
 * A table's data file written on the driver, with the same Parquet writer and file naming as a
 * task's ({@link TableFiles}), for rows the driver already holds. It stays invisible until a
 * commit names it; {@link #delete} removes one that will not be committed.
 */
public final class DriverFile {

  private DriverFile() {}

  static TaskOutput.WrittenFile write(SparkSession spark, String dir, StructType schema, List<Row> rows, String runTag) {
    return write(TableFiles.prepareOnDriver(spark, dir, schema, runTag), dir, schema, rows);
  }

  /**
   * As {@link #write(SparkSession, String, StructType, List, String)}, with no Spark session:
   * Spark's Parquet settings from {@code sqlConf} ({@link TableFiles#prepareWithoutSession}).
   */
  public static TaskOutput.WrittenFile write(org.apache.hadoop.conf.Configuration hadoopConf,
      org.apache.spark.sql.internal.SQLConf sqlConf, String dir, StructType schema, List<Row> rows, String runTag) {
    return write(TableFiles.prepareWithoutSession(hadoopConf, sqlConf, dir, schema, runTag), dir, schema, rows);
  }

  private static TaskOutput.WrittenFile write(TableFiles files, String dir, StructType schema, List<Row> rows) {
    TableFiles.Open open = files.open(0, 0, 0);
    var toInternal = CatalystTypeConverters.createToCatalystConverter(schema);
    try {
      try {
        for (Row r : rows) {
          open.rows().write((InternalRow) toInternal.apply(r));
        }
      } finally {
        open.rows().close();
      }
      org.apache.hadoop.fs.FileStatus s = open.status();
      return new TaskOutput.WrittenFile(dir, open.name(), open.path(), s.getLen(), s.getModificationTime(), rows.size());
    } catch (IOException | RuntimeException e) {
      open.delete();
      throw new IllegalStateException("cannot write " + rows.size() + " row(s) to " + dir + ": " + e.getMessage(), e);
    } finally {
      files.release();
    }
  }

  /** Best effort: a file no commit will name. */
  static void delete(SparkSession spark, TaskOutput.WrittenFile f) {
    delete(spark.sparkContext().hadoopConfiguration(), f);
  }

  /** As {@link #delete(SparkSession, TaskOutput.WrittenFile)}, with no Spark session. */
  public static void delete(org.apache.hadoop.conf.Configuration conf, TaskOutput.WrittenFile f) {
    try {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(f.path());
      var fs = p.getFileSystem(conf);
      fs.delete(p, false);
      fs.delete(new org.apache.hadoop.fs.Path(p.getParent(), "." + p.getName() + ".crc"), false);
    } catch (IOException | RuntimeException e) {
      // left for VACUUM; it is never committed
    }
  }
}
