package dev.joule.jobs.delta;

import io.delta.kernel.data.ColumnVector;
import io.delta.kernel.data.ColumnarBatch;
import io.delta.kernel.engine.Engine;
import io.delta.kernel.utils.CloseableIterator;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
      out.add(commit(version, info == null ? 0 : info.timestamp().getTime(), tag(c._2())));
    }
    return out;
  }

  private static Commit commit(long version, long timestampMillis, String tag) {
    Matcher w = WRITE.matcher(tag);
    Matcher u = UNDO.matcher(tag);
    if (u.matches()) {
      return new Commit(version, timestampMillis, u.group(1), true, Long.parseLong(u.group(2)));
    }
    return w.matches() ? new Commit(version, timestampMillis, w.group(1), false, -1)
        : new Commit(version, timestampMillis, null, false, -1);
  }

  /** What {@link #commits(Engine, org.apache.hadoop.conf.Configuration, String, long)} reads of a commit file. */
  private static final io.delta.kernel.types.StructType TAG_ACTIONS = new io.delta.kernel.types.StructType()
      .add("commitInfo", new io.delta.kernel.types.StructType()
          .add("timestamp", io.delta.kernel.types.LongType.LONG)
          .add("userMetadata", io.delta.kernel.types.StringType.STRING)
          .add("engineInfo", io.delta.kernel.types.StringType.STRING))
      .add("txn", new io.delta.kernel.types.StructType()
          .add("appId", io.delta.kernel.types.StringType.STRING)
          .add("version", io.delta.kernel.types.LongType.LONG));

  /**
   * As {@link #commits(SparkSession, String, long)}, with no Spark session: each commit file
   * from {@code fromVersion} on ({@code path}'s log listed once) read by Delta Kernel's JSON
   * reader, only its commit info and transaction ids.
   */
  public static List<Commit> commits(Engine engine, org.apache.hadoop.conf.Configuration conf, String path,
      long fromVersion) {
    org.apache.hadoop.fs.Path log = new org.apache.hadoop.fs.Path(path, "_delta_log");
    java.util.TreeMap<Long, org.apache.hadoop.fs.FileStatus> files = new java.util.TreeMap<>();
    try {
      for (org.apache.hadoop.fs.FileStatus f : log.getFileSystem(conf).listStatus(log)) {
        String name = f.getPath().getName();
        if (name.matches("\\d{20}\\.json") && Long.parseLong(name.substring(0, 20)) >= fromVersion) {
          files.put(Long.parseLong(name.substring(0, 20)), f);
        }
      }
    } catch (java.io.IOException e) {
      throw new IllegalStateException("cannot list the log of " + path + ": " + e.getMessage(), e);
    }
    List<Commit> out = new ArrayList<>();
    for (Map.Entry<Long, org.apache.hadoop.fs.FileStatus> e : files.entrySet()) {
      org.apache.hadoop.fs.FileStatus f = e.getValue();
      String userMetadata = null;
      String engineInfo = null;
      long timestamp = 0;
      List<Map.Entry<String, Long>> txns = new ArrayList<>();
      try (CloseableIterator<ColumnarBatch> batches = engine.getJsonHandler().readJsonFiles(
          io.delta.kernel.internal.util.Utils.singletonCloseableIterator(io.delta.kernel.utils.FileStatus.of(
              f.getPath().toString(), f.getLen(), f.getModificationTime())), TAG_ACTIONS, java.util.Optional.empty())) {
        while (batches.hasNext()) {
          ColumnarBatch b = batches.next();
          ColumnVector info = b.getColumnVector(0);
          ColumnVector txn = b.getColumnVector(1);
          for (int r = 0; r < b.getSize(); r++) {
            if (!info.isNullAt(r)) {
              timestamp = info.getChild(0).isNullAt(r) ? 0 : info.getChild(0).getLong(r);
              userMetadata = info.getChild(1).isNullAt(r) ? null : info.getChild(1).getString(r);
              engineInfo = info.getChild(2).isNullAt(r) ? null : info.getChild(2).getString(r);
            }
            if (!txn.isNullAt(r) && !txn.getChild(0).isNullAt(r) && !txn.getChild(1).isNullAt(r)) {
              txns.add(Map.entry(txn.getChild(0).getString(r), txn.getChild(1).getLong(r)));
            }
          }
        }
      } catch (java.io.IOException ex) {
        throw new java.io.UncheckedIOException("cannot read " + f.getPath() + ": " + ex.getMessage(), ex);
      }
      out.add(commit(e.getKey(), timestamp, tag(userMetadata, engineInfo, txns)));
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
    String userMetadata = null;
    String engineInfo = null;
    List<Map.Entry<String, Long>> txns = new ArrayList<>();
    for (Action a : scala.jdk.javaapi.CollectionConverters.asJava(actions)) {
      if (a instanceof CommitInfo ci) {
        userMetadata = ci.userMetadata().isDefined() ? ci.userMetadata().get() : null;
        engineInfo = ci.engineInfo().isDefined() ? ci.engineInfo().get() : null;
      }
      if (a instanceof org.apache.spark.sql.delta.actions.SetTransaction t) {
        txns.add(Map.entry(t.appId(), t.version()));
      }
    }
    return tag(userMetadata, engineInfo, txns);
  }

  /** A commit's tag from its commit info's user metadata and engine info, and its transaction ids. */
  private static String tag(String userMetadata, String engineInfo, List<Map.Entry<String, Long>> txns) {
    if (userMetadata != null) {
      return userMetadata;
    }
    // ... and only in a commit Joule's Kernel writer made (its engine info), not another writer's
    // that chose such an application id.
    if (engineInfo == null || !engineInfo.endsWith(KERNEL_ENGINE_INFO)) {
      return "";
    }
    String fromTxn = "";
    for (Map.Entry<String, Long> t : txns) {
      // Only a write's tag, at its own step as the version, as asTransaction makes it (Joule
      // undoes through Delta Spark, whose commits carry userMetadata).
      Matcher w = WRITE.matcher(t.getKey());
      if (w.matches() && Long.parseLong(w.group(2)) == t.getValue()) {
        fromTxn = t.getKey();
      }
    }
    return fromTxn;
  }

  /** How Kernel names Joule's commits in their engine info ({@code Kernel-<version>/Joule}). */
  static final String KERNEL_ENGINE_INFO = "/" + KernelUpsert.ENGINE_INFO;

  /**
   * The first version of {@code path} committed at or after {@code sinceMillis} (by the commit
   * file's modification time; one listing of the log folder), or -1 when none was.
   */
  static long firstVersionSince(SparkSession spark, String path, long sinceMillis) {
    return firstVersionSince(spark.sparkContext().hadoopConfiguration(), path, sinceMillis);
  }

  static long firstVersionSince(org.apache.hadoop.conf.Configuration conf, String path, long sinceMillis) {
    try {
      org.apache.hadoop.fs.Path log = new org.apache.hadoop.fs.Path(path, "_delta_log");
      org.apache.hadoop.fs.FileSystem fs = log.getFileSystem(conf);
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
