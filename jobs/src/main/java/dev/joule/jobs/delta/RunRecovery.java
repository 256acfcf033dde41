package dev.joule.jobs.delta;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finishes what a crashed run left: a run that committed to some output tables and then died
 * (kill -9, a lost driver) before writing its runs row has commits that no runs row accounts for.
 * Before a run writes to an output, it undoes such commits ({@link CommitUndo}), found by the
 * run tag in each commit ({@link CommitTag}). Only commits older than a grace period count: a run
 * that is still committing elsewhere is never touched, and other runs' commits never are.
 */
public final class RunRecovery {

  private static final Logger LOG = LoggerFactory.getLogger(RunRecovery.class);
  /**
   * How far back, beyond the grace period, to look in each table's log. Every run on the output
   * recovers first, so an orphan is found by the first run after its grace has passed; a week
   * covers outputs that no run touches for days. Only commit files this young are read.
   */
  private static final Duration LOOK_BACK = Duration.ofDays(7);

  private RunRecovery() {}

  /** One commit undone. */
  public record Recovered(String table, long version, String runId, CommitUndo.Outcome outcome) {}

  /** A commit {@link #recover} undoes: a run's that no runs row accounts for, older than the grace. */
  public record Orphan(String table, long version, String runId) {}

  /** What recovery reads of the tables' logs: through a Spark session's Delta, or Delta Kernel. */
  public interface Logs {
    boolean exists(String table);

    /** The first version committed at or after {@code millis}, or -1. */
    long firstVersionSince(String table, long millis);

    List<CommitTag.Commit> commits(String table, long fromVersion);

    static Logs of(SparkSession spark) {
      return new Logs() {
        public boolean exists(String table) {
          return DeltaIO.exists(spark, table);
        }

        public long firstVersionSince(String table, long millis) {
          return CommitTag.firstVersionSince(spark, table, millis);
        }

        public List<CommitTag.Commit> commits(String table, long fromVersion) {
          return CommitTag.commits(spark, table, fromVersion);
        }
      };
    }

    /** No Spark session: the logs listed with {@code conf}, their commits read by Kernel. */
    static Logs of(io.delta.kernel.engine.Engine engine, org.apache.hadoop.conf.Configuration conf) {
      return new Logs() {
        public boolean exists(String table) {
          try {
            org.apache.hadoop.fs.Path log = new org.apache.hadoop.fs.Path(table, "_delta_log");
            return log.getFileSystem(conf).exists(log);
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(table + ": " + e.getMessage(), e);
          }
        }

        public long firstVersionSince(String table, long millis) {
          return CommitTag.firstVersionSince(conf, table, millis);
        }

        public List<CommitTag.Commit> commits(String table, long fromVersion) {
          return CommitTag.commits(engine, conf, table, fromVersion);
        }
      };
    }
  }

  /**
   * @param dataTables the tables a run writes before its runs row
   * @param runs the runs table, written last by every run
   * @param grace how old an unaccounted commit must be before its run is taken as dead
   */
  public static List<Recovered> recover(SparkSession spark, List<String> dataTables, String runs, Duration grace) {
    List<Recovered> done = new ArrayList<>();
    String removed = null;
    for (Orphan o : orphans(Logs.of(spark), dataTables, runs, grace)) {
      if (o.table().equals(removed)) {
        continue;
      }
      CommitUndo.Outcome outcome = CommitUndo.undo(spark, o.table(), o.version(), o.runId());
      LOG.warn("recovered {}: run {} committed version {} and never recorded itself in {}: {}",
          o.table(), o.runId(), o.version(), runs, outcome.describe());
      done.add(new Recovered(o.table(), o.version(), o.runId(), outcome));
      if (outcome == CommitUndo.Outcome.TABLE_REMOVED) {
        removed = o.table();
      }
    }
    return done;
  }

  /** The commits {@link #recover} would undo, newest first within each table; nothing is changed. */
  public static List<Orphan> orphans(Logs logs, List<String> dataTables, String runs, Duration grace) {
    List<Orphan> found = new ArrayList<>();
    Set<String> recorded = new HashSet<>();
    long since = System.currentTimeMillis() - grace.toMillis() - LOOK_BACK.toMillis();
    long runsFrom = logs.exists(runs) ? logs.firstVersionSince(runs, since) : -1;
    if (runsFrom >= 0) {
      for (CommitTag.Commit c : logs.commits(runs, runsFrom)) {
        if (c.runId() != null && !c.undo()) {
          recorded.add(c.runId());
        }
      }
    }
    long cutoff = System.currentTimeMillis() - grace.toMillis();
    for (String table : dataTables) {
      long from = logs.exists(table) ? logs.firstVersionSince(table, since) : -1;
      if (from < 0) {
        continue;
      }
      List<CommitTag.Commit> commits = logs.commits(table, from);
      Set<Long> undone = new HashSet<>();
      for (CommitTag.Commit c : commits) {
        if (c.undo()) {
          undone.add(c.undoneVersion());
        }
      }
      for (int i = commits.size() - 1; i >= 0; i--) {
        CommitTag.Commit c = commits.get(i);
        if (c.runId() == null || c.undo() || undone.contains(c.version()) || recorded.contains(c.runId())
            || c.timestampMillis() > cutoff) {
          continue;
        }
        found.add(new Orphan(table, c.version(), c.runId()));
      }
    }
    return found;
  }

  /**
   * Whether {@code table} has a live commit, in the window {@link #recover} reads, by a run
   * whose id starts with {@code runIdPrefix} other than {@code runId}: an attempt of the same
   * night that may have died after writing, which {@link #recover} leaves alone until its grace
   * has passed. Read from the log on the driver (no Spark job).
   */
  public static boolean recentAttempt(SparkSession spark, String table, String runIdPrefix, String runId,
      Duration grace) {
    return recentAttempt(Logs.of(spark), table, runIdPrefix, runId, grace);
  }

  public static boolean recentAttempt(Logs logs, String table, String runIdPrefix, String runId, Duration grace) {
    if (!logs.exists(table)) {
      return false;
    }
    long from = logs.firstVersionSince(table, System.currentTimeMillis() - grace.toMillis() - LOOK_BACK.toMillis());
    if (from < 0) {
      return false;
    }
    List<CommitTag.Commit> commits = logs.commits(table, from);
    Set<Long> undone = new HashSet<>();
    commits.stream().filter(CommitTag.Commit::undo).forEach(c -> undone.add(c.undoneVersion()));
    return commits.stream().anyMatch(c -> !c.undo() && c.runId() != null && c.runId().startsWith(runIdPrefix)
        && !c.runId().equals(runId) && !undone.contains(c.version()));
  }
}
