package dev.joule.jobs.nightly;

import io.delta.kernel.defaults.engine.DefaultEngine;
import dev.joule.jobs.delta.LogFileActions;
import io.delta.kernel.engine.Engine;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/**
 * The data files a version range of a Delta table added and removed, read from its log with Delta
 * Kernel on the driver (no Spark job): the change source when the table has no change data feed.
 * Actions that do not change data (OPTIMIZE, {@code dataChange = false}) are skipped. Returns a
 * reason instead when the files alone cannot describe the rows: deletion vectors, partition
 * values, column mapping, or commits already cleaned out of the log.
 */
final class HistoryChanges {

  final List<String> added = new ArrayList<>();
  final List<String> removed = new ArrayList<>();
  String reason;

  static HistoryChanges read(SparkSession spark, String table, long start, long end) {
    HistoryChanges h = new HistoryChanges();
    Set<String> add = new LinkedHashSet<>();
    Set<String> remove = new LinkedHashSet<>();
    Path root = new Path(table);
    try {
      FileSystem fs = root.getFileSystem(spark.sparkContext().hadoopConfiguration());
      String qualified = fs.makeQualified(root).toString();
      Engine engine = DefaultEngine.create(spark.sparkContext().hadoopConfiguration());
      io.delta.kernel.CommitRange range;
      try {
        range = LogFileActions.range(engine, qualified, start, end);
      } catch (RuntimeException e) {
        h.reason = "the table history for versions " + start + ".." + end + " is no longer in _delta_log (log cleaned "
            + "up): " + e.getMessage();
        return h;
      }
      // Commit by commit, stopping at the first that the files alone cannot describe.
      LogFileActions.forEach(engine, range, root, commit -> {
        if (commit.unreadable() != null) {
          h.reason = commit.unreadable() + ", which the history path does not read";
          return false;
        }
        for (LogFileActions.FileAction f : commit.files()) {
          if (f.kind() == LogFileActions.Kind.CHANGE_FILE || !f.dataChange()) {
            continue; // a rewrite that changed no row (OPTIMIZE, say)
          }
          if (f.deletionVector()) {
            h.reason = "version " + commit.version() + " uses deletion vectors; enable the change data feed for "
                + "incremental nights";
            return false;
          }
          if (f.kind() == LogFileActions.Kind.ADD) {
            add.add(f.path());
          } else if (!add.remove(f.path())) {
            remove.add(f.path()); // a file added and removed inside the range never mattered
          }
        }
        return true;
      });
      if (h.reason != null) {
        return h;
      }
      for (String f : remove) {
        if (!fs.exists(new Path(f))) {
          h.reason = "a data file removed in versions " + start + ".." + end + " is gone (vacuumed): " + f;
          return h;
        }
      }
    } catch (Exception e) {
      h.reason = "the table history could not be read: " + e.getMessage();
      return h;
    }
    h.added.addAll(add);
    h.removed.addAll(remove);
    return h;
  }
}
