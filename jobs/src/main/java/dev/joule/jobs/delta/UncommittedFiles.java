package dev.joule.jobs.delta;

import dev.joule.udfs.files.KeyIndex;
import dev.joule.udfs.files.TableFiles;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Removes the data files a run's tasks wrote into table folders and the run did not commit. */
public final class UncommittedFiles {
  private static final Logger LOG = LoggerFactory.getLogger(UncommittedFiles.class);

  private UncommittedFiles() {}

  /**
   * A committed file, as {@link #delete} takes it: its table folder (the string passed as one of
   * its {@code dirs}) and its name. The folder is part of it: one task names its files in two
   * tables alike, and one may be committed while the other is not.
   */
  public static String key(String dir, String name) {
    return dir + "\n" + name;
  }

  /**
   * Deletes, in each of {@code dirs}, the files named with {@code runTag} ({@link TableFiles#runMark})
   * that are not in {@code committed} ({@link #key}s: failed task attempts, or a run that did not
   * commit), with their checksum files; a folder left empty goes too. Never throws: what stays is logged.
   */
  public static void delete(SparkSession spark, List<String> dirs, String runTag, Set<String> committed) {
    delete(spark.sparkContext().hadoopConfiguration(), dirs, runTag, committed);
  }

  /** As above, with the file systems of {@code conf}. */
  public static void delete(org.apache.hadoop.conf.Configuration conf, List<String> dirs, String runTag,
      Set<String> committed) {
    String mark = TableFiles.runMark(runTag);
    for (String dir : dirs) {
      try {
        org.apache.hadoop.fs.Path d = new org.apache.hadoop.fs.Path(dir);
        org.apache.hadoop.fs.FileSystem fs = d.getFileSystem(conf);
        if (!fs.exists(d)) {
          continue;
        }
        // The key indexes are listed before the data files: an index is written after its data
        // file, so one listed here whose data file is not listed next has lost it.
        java.util.Map<String, Long> indexes = KeyIndex.list(conf, d);
        Set<String> kept = new java.util.HashSet<>();
        for (org.apache.hadoop.fs.FileStatus f : fs.listStatus(d)) {
          String name = f.getPath().getName();
          String data = name.startsWith(".") && name.endsWith(".crc") ? name.substring(1, name.length() - 4) : name;
          if (data.contains(mark) && !committed.contains(key(dir, data))) {
            fs.delete(f.getPath(), false);
          } else {
            kept.add(name);
          }
        }
        // Indexes of files deleted here, by VACUUM or by a run that did not commit.
        for (String data : indexes.keySet()) {
          if (!kept.contains(data)) {
            fs.delete(KeyIndex.pathOf(new org.apache.hadoop.fs.Path(d, data)), false);
          }
        }
        org.apache.hadoop.fs.Path keys = new org.apache.hadoop.fs.Path(d, KeyIndex.DIR);
        try {
          if (!indexes.isEmpty() && fs.listStatus(keys).length == 0) {
            fs.delete(keys, false); // a run writing an index meanwhile may refuse it
          }
        } catch (java.io.IOException e) {
          // left for the next run
        }
        if (fs.listStatus(d).length == 0) {
          fs.delete(d, false);
        }
      } catch (java.io.IOException | RuntimeException e) {
        LOG.warn("could not remove this run's uncommitted files in {}: {}", dir, e.toString());
      }
    }
  }
}
