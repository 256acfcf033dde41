package dev.joule.jobs.delta;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.delta.DeltaLog;
import org.apache.spark.sql.delta.actions.Action;
import org.apache.spark.sql.delta.actions.CommitInfo;

/**
 * The tag a Joule run writes into each of its Delta commits ({@code commitInfo.userMetadata}, or
 * for a commit through Delta Kernel its transaction id, {@link #asTransaction}):
 * {@code joule run=RUN step=N} for a write, {@code joule undo run=RUN version=V} for the commit
 * that undid a write. The log then says, for every commit, which run made it and which commits
 * were undone, with no table of our own to keep in step.
 */
public final class CommitTag {

  private static final Pattern WRITE = Pattern.compile("joule run=(\\S+) step=(\\d+)");
  private static final Pattern UNDO = Pattern.compile("joule undo run=(\\S+) version=(\\d+)");
  /** Spark session setting that Delta copies into the commitInfo of DML and API commits. */
  static final String SESSION_KEY = "spark.databricks.delta.commitInfo.userMetadata";

  private CommitTag() {}

  public static String write(String runId, int step) {
    return "joule run=" + runId + " step=" + step;
  }

  static String undo(String runId, long version) {
    return "joule undo run=" + runId + " version=" + version;
  }

  /** One commit of a table, as the log tells it; {@code runId} null when no Joule run made it. */
  public record Commit(long version, long timestampMillis, String runId, boolean undo, long undoneVersion) {}

  /** The commits of {@code path} from {@code fromVersion} on, read from the log on the driver. */
  public static List<Commit> commits(SparkSession spark, String path, long fromVersion) {
    List<Commit> out = new ArrayList<>();
    DeltaLog log = DeltaLog.forTable(spark, path);
    scala.collection.Iterator<scala.Tuple2<Object, scala.collection.immutable.Seq<Action>>> it =
        log.getChanges(Math.max(0, fromVersion), scala.Option.empty(), false);
    while (it.hasNext()) {
      scala.Tuple2<Object, scala.collection.immutable.Seq<Action>> c = it.next();
      long version = (Long) c._1();
      CommitInfo info = null;
      for (Action a : scala.jdk.javaapi.CollectionConverters.asJava(c._2())) {
        if (a instanceof CommitInfo ci) {
          info = ci;
        }
      }
      String meta = tag(c._2());
      long ts = info == null ? 0 : info.timestamp().getTime();
      Matcher w = WRITE.matcher(meta);
      Matcher u = UNDO.matcher(meta);
      if (u.matches()) {
        out.add(new Commit(version, ts, u.group(1), true, Long.parseLong(u.group(2))));
      } else if (w.matches()) {
        out.add(new Commit(version, ts, w.group(1), false, -1));
      } else {
        out.add(new Commit(version, ts, null, false, -1));
      }
    }
    return out;
  }

  /**
   * A commit made through Delta Kernel, whose commit info has no {@code userMetadata}, carries its
   * tag as its transaction id instead ({@code txn}: the tag as the application, the step as the
   * version), as {@link KernelUpsert} writes it.
   */
  public static KernelUpsert.TransactionId asTransaction(String runId, int step) {
    return new KernelUpsert.TransactionId(write(runId, step), step);
  }

  /** A commit's tag: its commit info's {@code userMetadata}, else a tag as its transaction id; "" if none. */
  private static String tag(scala.collection.immutable.Seq<Action> actions) {
    String fromTxn = "";
    boolean byJoulesKernelWriter = false;
    for (Action a : scala.jdk.javaapi.CollectionConverters.asJava(actions)) {
      if (a instanceof CommitInfo ci) {
        if (ci.userMetadata().isDefined()) {
          return ci.userMetadata().get();
        }
        byJoulesKernelWriter = ci.engineInfo().isDefined() && ci.engineInfo().get().endsWith(KERNEL_ENGINE_INFO);
      }
      if (a instanceof org.apache.spark.sql.delta.actions.SetTransaction t) {
        // Only a write's tag, at its own step as the version, as asTransaction makes it (Joule
        // undoes through Delta Spark, whose commits carry userMetadata).
        Matcher w = WRITE.matcher(t.appId());
        if (w.matches() && Long.parseLong(w.group(2)) == t.version()) {
          fromTxn = t.appId();
        }
      }
    }
    // ... and only in a commit Joule's Kernel writer made (its engine info), not another writer's
    // that chose such an application id.
    return byJoulesKernelWriter ? fromTxn : "";
  }

  /** How Kernel names Joule's commits in their engine info ({@code Kernel-<version>/Joule}). */
  static final String KERNEL_ENGINE_INFO = "/" + KernelUpsert.ENGINE_INFO;

  /**
   * The first version of {@code path} committed at or after {@code sinceMillis} (by the commit
   * file's modification time; one listing of the log folder), or -1 when none was.
   */
  static long firstVersionSince(SparkSession spark, String path, long sinceMillis) {
    try {
      org.apache.hadoop.fs.Path log = new org.apache.hadoop.fs.Path(path, "_delta_log");
      org.apache.hadoop.fs.FileSystem fs = log.getFileSystem(spark.sparkContext().hadoopConfiguration());
      long first = -1;
      for (org.apache.hadoop.fs.FileStatus f : fs.listStatus(log)) {
        String name = f.getPath().getName();
        if (name.matches("\\d{20}\\.json") && f.getModificationTime() >= sinceMillis) {
          long v = Long.parseLong(name.substring(0, 20));
          first = first < 0 ? v : Math.min(first, v);
        }
      }
      return first;
    } catch (java.io.IOException e) {
      throw new IllegalStateException("cannot list the log of " + path + ": " + e.getMessage(), e);
    }
  }

  /** The version at or after {@code fromVersion} whose commit carries {@code tag}, or -1. */
  static long find(SparkSession spark, String path, long fromVersion, String tag) {
    if (!DeltaIO.exists(spark, path)) {
      return -1;
    }
    DeltaLog log = DeltaLog.forTable(spark, path);
    var it = log.getChanges(Math.max(0, fromVersion), scala.Option.empty(), false);
    while (it.hasNext()) {
      var c = it.next();
      if (tag.equals(tag(c._2()))) {
        return (Long) c._1();
      }
    }
    return -1;
  }

  /**
   * Runs {@code body} with the session's commit tag set to {@code tag}, then puts back what the
   * session had (a notebook's own setting survives).
   */
  static void withSessionTag(SparkSession spark, String tag, Runnable body) {
    String before = spark.conf().getOption(SESSION_KEY).isDefined() ? spark.conf().get(SESSION_KEY) : null;
    spark.conf().set(SESSION_KEY, tag);
    try {
      body.run();
    } finally {
      if (before == null) {
        spark.conf().unset(SESSION_KEY);
      } else {
        spark.conf().set(SESSION_KEY, before);
      }
    }
  }
}
