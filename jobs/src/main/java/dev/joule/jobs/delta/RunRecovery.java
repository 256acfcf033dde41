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

  /**
   * @param dataTables the tables a run writes before its runs row
   * @param runs the runs table, written last by every run
   * @param grace how old an unaccounted commit must be before its run is taken as dead
   */
  public static List<Recovered> recover(SparkSession spark, List<String> dataTables, String runs, Duration grace) {
    List<Recovered> done = new ArrayList<>();
    Set<String> recorded = new HashSet<>();
    long since = System.currentTimeMillis() - grace.toMillis() - LOOK_BACK.toMillis();
    long runsFrom = DeltaIO.exists(spark, runs) ? CommitTag.firstVersionSince(spark, runs, since) : -1;
    if (runsFrom >= 0) {
      for (CommitTag.Commit c : CommitTag.commits(spark, runs, runsFrom)) {
        if (c.runId() != null && !c.undo()) {
          recorded.add(c.runId());
        }
      }
    }
    long cutoff = System.currentTimeMillis() - grace.toMillis();
    for (String table : dataTables) {
      long from = DeltaIO.exists(spark, table) ? CommitTag.firstVersionSince(spark, table, since) : -1;
      if (from < 0) {
        continue;
      }
      List<CommitTag.Commit> commits = CommitTag.commits(spark, table, from);
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
        CommitUndo.Outcome o = CommitUndo.undo(spark, table, c.version(), c.runId());
        LOG.warn("recovered {}: run {} committed version {} and never recorded itself in {}: {}",
            table, c.runId(), c.version(), runs, o.describe());
        done.add(new Recovered(table, c.version(), c.runId(), o));
        if (o == CommitUndo.Outcome.TABLE_REMOVED) {
          break;
        }
      }
    }
    return done;
  }

  /**
   * Whether {@code table} has a live commit, in the window {@link #recover} reads, by a run
   * whose id starts with {@code runIdPrefix} other than {@code runId}: an attempt of the same
   * night that may have died after writing, which {@link #recover} leaves alone until its grace
   * has passed. Read from the log on the driver (no Spark job).
   */
  public static boolean recentAttempt(SparkSession spark, String table, String runIdPrefix, String runId,
      Duration grace) {
    if (!DeltaIO.exists(spark, table)) {
      return false;
    }
    long from = CommitTag.firstVersionSince(spark, table,
        System.currentTimeMillis() - grace.toMillis() - LOOK_BACK.toMillis());
    if (from < 0) {
      return false;
    }
    List<CommitTag.Commit> commits = CommitTag.commits(spark, table, from);
    Set<Long> undone = new HashSet<>();
    commits.stream().filter(CommitTag.Commit::undo).forEach(c -> undone.add(c.undoneVersion()));
    return commits.stream().anyMatch(c -> !c.undo() && c.runId() != null && c.runId().startsWith(runIdPrefix)
        && !c.runId().equals(runId) && !undone.contains(c.version()));
  }
}
