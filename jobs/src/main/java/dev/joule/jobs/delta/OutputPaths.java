package dev.joule.jobs.delta;

import dev.joule.jobs.JouleException;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/**
 * Checks, before any work, that a path a job will write a Delta table to holds nothing a user
 * could lose: nothing there, an empty folder, or a Delta table. A file, or a folder with files but
 * no {@code _delta_log}, is refused: a failed run must never be able to delete or overwrite it.
 */
public final class OutputPaths {

  private OutputPaths() {}

  /** Refuses a path that is a file where a folder (of tables) goes. */
  public static void requireFolder(SparkSession spark, String path, String what) {
    requireFolder(spark.sparkContext().hadoopConfiguration(), path, what);
  }

  public static void requireFolder(org.apache.hadoop.conf.Configuration conf, String path, String what) {
    try {
      Path p = new Path(path);
      FileSystem fs = p.getFileSystem(conf);
      if (fs.exists(p) && !fs.getFileStatus(p).isDirectory()) {
        throw JouleException.input(what + " " + path + " is a file, not a folder; nothing was written");
      }
    } catch (java.io.IOException e) {
      throw JouleException.input(what + " " + path + " cannot be read: " + e.getMessage());
    }
  }

  /** @param what how the error names the path, e.g. "--output" */
  public static void requireWritable(SparkSession spark, String path, String what) {
    requireWritable(spark.sparkContext().hadoopConfiguration(), path, what);
  }

  public static void requireWritable(org.apache.hadoop.conf.Configuration conf, String path, String what) {
    FileStatus status;
    FileSystem fs;
    try {
      Path p = new Path(path);
      fs = p.getFileSystem(conf);
      if (!fs.exists(p)) {
        return;
      }
      status = fs.getFileStatus(p);
      if (!status.isDirectory()) {
        throw JouleException.input(what + " " + path + " is a file, not a Delta table; nothing was written");
      }
      if (fs.exists(new Path(p, "_delta_log"))) {
        return;
      }
      boolean onlyJoules = true; // data files a run's tasks wrote before its first commit, and their key indexes
      for (FileStatus f : fs.listStatus(p)) {
        String name = f.getPath().getName();
        String data = name.startsWith(".") && name.endsWith(".crc") ? name.substring(1, name.length() - 4) : name;
        onlyJoules &= name.equals(dev.joule.udfs.files.KeyIndex.DIR) || dev.joule.udfs.files.TableFiles.isPending(data);
      }
      if (onlyJoules) {
        return;
      }
    } catch (java.io.IOException e) {
      throw JouleException.input(what + " " + path + " cannot be read: " + e.getMessage());
    }
    throw JouleException.input(what + " " + path + " is a folder with files but not a Delta table (no _delta_log); "
        + "nothing was written: choose another path, or move the files away");
  }
}
