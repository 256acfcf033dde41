package dev.joule.jobs.delta;

import dev.joule.jobs.JouleException;
import io.delta.tables.DeltaTable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/** Small Delta helpers with errors that name the path. */
public final class DeltaIO {

  private DeltaIO() {}

  public static boolean exists(SparkSession spark, String path) {
    return DeltaTable.isDeltaTable(spark, path);
  }

  /**
   * The latest committed version of the table at {@code path}. Read from the log's newest
   * snapshot, not from {@code history(1)}: that is a Spark job, and a night asks this several
   * times (each job costs a small night more than its rows do).
   */
  public static long latestVersion(SparkSession spark, String path) {
    return snapshot(spark, path).version();
  }

  /** The path made absolute and qualified with its file system (Delta's SQL path identifiers need that). */
  public static String qualified(SparkSession spark, String path) {
    try {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
      return p.getFileSystem(spark.sparkContext().hadoopConfiguration()).makeQualified(p).toString();
    } catch (java.io.IOException e) {
      return path;
    }
  }

  /** The table's properties ({@code delta.*} and our own), from the log's newest snapshot. */
  public static java.util.Map<String, String> properties(SparkSession spark, String path) {
    return scala.jdk.javaapi.CollectionConverters.asJava(snapshot(spark, path).metadata().configuration());
  }

  /**
   * The table's properties at {@code version}: what goes with rows read at that version (a codes
   * table's dimension scales must be those its rows were quantized with, even if it was replaced
   * since the run pinned it).
   */
  public static java.util.Map<String, String> properties(SparkSession spark, String path, long version) {
    org.apache.spark.sql.delta.DeltaLog log = org.apache.spark.sql.delta.DeltaLog.forTable(spark, path);
    return scala.jdk.javaapi.CollectionConverters.asJava(
        log.getSnapshotAt(version, scala.Option.empty(), scala.Option.empty(), false).metadata().configuration());
  }

  // Delta's internal DeltaLog API (Delta 4.3.1, pinned): the public DeltaTable API has only
  // job-running ways (history(), detail()) to these two facts. Loading a snapshot reads the log
  // files (checkpoint, JSON, CRC) on the driver; state reconstruction stays lazy.
  private static org.apache.spark.sql.delta.Snapshot snapshot(SparkSession spark, String path) {
    org.apache.spark.sql.delta.DeltaLog log = org.apache.spark.sql.delta.DeltaLog.forTable(spark, path);
    org.apache.spark.sql.delta.Snapshot snapshot =
        log.update(log.update$default$1(), log.update$default$2(), log.update$default$3());
    if (snapshot.version() < 0) {
      // An empty snapshot, not an error, is what the log API gives for a non-Delta path; a
      // rollback must never take it for "created by this run" and delete the folder.
      throw JouleException.input("not a Delta table: " + path);
    }
    return snapshot;
  }

  /**
   * The table as of its latest version, pinned so every read in the run sees the same rows. Its
   * files are listed on the driver by Delta Kernel where a plain Parquet read gives its rows
   * ({@link DriverPlannedScan}), else read by Spark's Delta reader.
   */
  public static Pinned readPinned(SparkSession spark, String path, String what) {
    return readPinned(spark, path, java.util.OptionalLong.empty(), what);
  }

  /** As {@link #readPinned(SparkSession, String, String)}, at {@code version} when one is given. */
  public static Pinned readPinned(SparkSession spark, String path, java.util.OptionalLong version, String what) {
    return readPinned(spark, DriverTableReader.engine(spark), path, version, what);
  }

  /**
   * As {@link #readPinned(SparkSession, String, java.util.OptionalLong, String)}, its files listed
   * with {@code engine}: a job that reads the log several times builds one engine (each default
   * engine copies the session's Hadoop configuration).
   */
  public static Pinned readPinned(SparkSession spark, io.delta.kernel.engine.Engine engine, String path,
      java.util.OptionalLong version, String what) {
    DriverPlannedScan.Plan plan = DriverPlannedScan.of(spark, engine, path, version);
    if (plan.data() != null) {
      return new Pinned(path, plan.version(), plan.data(), "files listed by Delta Kernel", plan.rows());
    }
    if (!exists(spark, path)) {
      throw JouleException.input(what + " is not a Delta table: " + path
          + (new java.io.File(path).exists() ? " (the folder has no _delta_log)" : " (no such folder)"));
    }
    long at = version.isPresent() ? version.getAsLong() : latestVersion(spark, path);
    Dataset<Row> df = spark.read().format("delta").option("versionAsOf", at).load(path);
    return new Pinned(path, at, df, "Spark's Delta reader: " + plan.leftToSpark(), java.util.OptionalLong.empty());
  }

  /** Deletes a folder and everything in it (local, s3a://, abfs://). True if something was deleted. */
  public static boolean deletePath(SparkSession spark, String path) throws java.io.IOException {
    org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
    return p.getFileSystem(spark.sparkContext().hadoopConfiguration()).delete(p, true);
  }

  /**
   * The outermost folder on the way to {@code path} that does not exist yet ({@code path} itself
   * when only it is missing), or null when {@code path} exists. A job that writes under {@code
   * path} and fails can then remove what it created with {@link #removeEmptyFolders}, and no
   * more.
   */
  public static String firstMissing(SparkSession spark, String path) {
    try {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
      org.apache.hadoop.fs.FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
      p = fs.makeQualified(p);
      String missing = null;
      for (; p != null && !fs.exists(p); p = p.getParent()) {
        missing = p.toString();
      }
      return missing;
    } catch (java.io.IOException | RuntimeException e) {
      return null; // unknown: remove nothing
    }
  }

  /**
   * Removes {@code path} and then its parents, up to and including {@code upTo} (from {@link
   * #firstMissing}), each only while it is an empty folder. Never throws; null {@code upTo} does
   * nothing.
   */
  public static void removeEmptyFolders(SparkSession spark, String path, String upTo) {
    if (upTo == null) {
      return;
    }
    try {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
      org.apache.hadoop.fs.FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
      p = fs.makeQualified(p);
      org.apache.hadoop.fs.Path stop = fs.makeQualified(new org.apache.hadoop.fs.Path(upTo));
      if (!p.toString().equals(stop.toString()) && !p.toString().startsWith(stop.toString() + "/")) {
        return;
      }
      for (; p != null; p = p.getParent()) {
        if (fs.exists(p)) {
          if (!fs.getFileStatus(p).isDirectory() || fs.listStatus(p).length > 0) {
            return;
          }
          fs.delete(p, false);
        }
        if (p.toString().equals(stop.toString())) {
          return;
        }
      }
    } catch (java.io.IOException | RuntimeException e) {
      // best effort: an empty folder left behind is litter, not damage
    }
  }

  /** {@code v} as the body of a single-quoted Spark SQL string literal. */
  public static String sqlString(String v) {
    return v.replace("\\", "\\\\").replace("'", "\\'");
  }

  /**
   * A table read at one version.
   *
   * @param planned how its files were found, as the run log says it
   * @param rows its rows by the log's file statistics, where the driver listed its files and every
   *     file has them; else empty
   */
  public record Pinned(String path, long version, Dataset<Row> data, String planned, java.util.OptionalLong rows) {}
}
