package dev.joule.jobs.delta;

import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.delta.DeltaLog;
import org.apache.spark.sql.delta.Snapshot;

/**
 * Checkpoints of Joule's output tables, written by Delta Kernel on the driver instead of by Delta
 * Spark's post-commit hook. Delta Spark checkpoints a table every tenth commit with five Spark
 * jobs (the log's state, then its Parquet), and Joule's output tables commit in lockstep, one
 * commit each per run: every tenth night checkpointed predictions, energy_log and runs at once,
 * 15 Spark jobs, and cost 35.5 CPU-s against 17.9 with Kernel's checkpoints (fresh processes on
 * this project's VM, bench/README.md). Kernel writes the same checkpoint (a classic single-file
 * one, with {@code _last_checkpoint}; it then removes expired commits and checkpoints, and this
 * class the {@code .crc} files Kernel leaves of them) without a Spark job.
 *
 * <p>A table Joule creates for a score or a night carries {@code delta.checkpointInterval} =
 * {@value #HANDED_OVER}, so that Delta Spark's writers, Joule's included, never checkpoint it on their own; after
 * each of Joule's commits to such a table a checkpoint is written once the last one is
 * {@value #INTERVAL} versions back (Delta's default interval), whoever made the commits between.
 * Tables without that value (created before, or by others) keep Delta Spark's checkpoints.
 */
public final class KernelCheckpoints {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(KernelCheckpoints.class);

  /** Delta's table property for how often its writers checkpoint. */
  static final String PROPERTY = "delta.checkpointInterval";
  /** The property's value on tables whose checkpoints Joule writes: a million commits. */
  static final String HANDED_OVER = "1000000";
  /** Versions between Joule's checkpoints: Delta's default. */
  static final long INTERVAL = 10;

  private KernelCheckpoints() {}

  /** {@code properties} of a table being created, with its checkpoints handed to Joule unless they set the interval. */
  static Map<String, String> onNewTable(Map<String, String> properties) {
    if (properties.containsKey(PROPERTY)) {
      return properties;
    }
    Map<String, String> p = new LinkedHashMap<>(properties);
    p.put(PROPERTY, HANDED_OVER);
    return p;
  }

  /**
   * After a commit of {@code version} to {@code path}: a checkpoint of the latest version where the
   * table's checkpoints are Joule's and its last is {@link #INTERVAL} or more versions back.
   * Never throws: the commit has landed, and a checkpoint only makes later reads cheaper. If
   * Kernel cannot write it (a table feature Kernel does not write, say), Delta Spark does.
   */
  static void afterCommit(SparkSession spark, io.delta.kernel.engine.Engine engine, String path, long version) {
    Snapshot snapshot;
    try {
      snapshot = DeltaLog.forTable(spark, path).unsafeVolatileSnapshot();
      Map<String, String> properties =
          scala.jdk.javaapi.CollectionConverters.asJava(snapshot.metadata().configuration());
      if (!HANDED_OVER.equals(properties.get(PROPERTY))
          || version - Math.max(0, snapshot.checkpointProvider().version()) < INTERVAL) { // (-1: none yet)
        return;
      }
    } catch (Exception e) { // (Scala code throws checked exceptions undeclared)
      LOG.warn("{}: no checkpoint after version {} ({})", path, version, e.toString());
      return;
    }
    Boolean written = writeLatest(engine, path, version);
    if (written == null) {
      try {
        DeltaLog log = DeltaLog.forTable(spark, path);
        Snapshot at = log.getSnapshotAt(version, scala.Option.empty(), scala.Option.empty(), false);
        log.checkpoint(at, scala.Option.empty());
      } catch (Exception again) {
        LOG.warn("{}: no checkpoint at version {} ({})", path, version, again.toString());
      }
    } else if (written) {
      removeExpiredChecksumsLogged(spark.sessionState().newHadoopConf(), path);
    }
  }

  /**
   * As {@link #afterCommit(SparkSession, io.delta.kernel.engine.Engine, String, long)}, for a
   * commit made with no Spark session: the table's state read by Kernel ({@code committed}, the
   * snapshot Kernel's commit returned, where it did), the checkpoint written by Kernel only (where
   * it cannot, none is written: a later commit through Delta Spark makes one).
   */
  static void afterCommit(io.delta.kernel.engine.Engine engine, org.apache.hadoop.conf.Configuration conf, String path,
      long version, java.util.Optional<io.delta.kernel.Snapshot> committed) {
    try {
      var snapshot = (io.delta.kernel.internal.SnapshotImpl) committed.orElseGet(
          () -> io.delta.kernel.TableManager.loadSnapshot(path).atVersion(version).build(engine));
      long last = snapshot.getLogSegment().getCheckpointVersionOpt().orElse(-1L);
      if (!HANDED_OVER.equals(snapshot.getMetadata().getConfiguration().get(PROPERTY))
          || version - Math.max(0, last) < INTERVAL) {
        return;
      }
    } catch (Exception e) {
      LOG.warn("{}: no checkpoint after version {} ({})", path, version, e.toString());
      return;
    }
    if (Boolean.TRUE.equals(writeLatest(engine, path, version))) {
      removeExpiredChecksumsLogged(conf, path);
    }
  }

  /**
   * A checkpoint of the latest snapshot by Kernel: true when written, false when another writer
   * had made it, null when Kernel could not (logged).
   */
  private static Boolean writeLatest(io.delta.kernel.engine.Engine engine, String path, long version) {
    var cpu = ManagementFactory.getThreadMXBean();
    long c0 = cpu.getCurrentThreadCpuTime();
    try {
      // Of the latest snapshot (this commit's, or a later one): only then does Kernel's checkpointer
      // also clean up expired log files (Table.checkpoint(engine, version) builds one that is not).
      io.delta.kernel.Snapshot latest = io.delta.kernel.Table.forPath(engine, path).getLatestSnapshot(engine);
      latest.writeCheckpoint(engine);
      LOG.info("{}: checkpoint at version {} written by Delta Kernel ({} ms CPU)", path, latest.getVersion(),
          String.format(java.util.Locale.ROOT, "%.1f", (cpu.getCurrentThreadCpuTime() - c0) / 1e6));
      return true;
    } catch (io.delta.kernel.exceptions.CheckpointAlreadyExistsException e) {
      return false; // another writer made it: nothing to do
    } catch (Exception e) {
      LOG.warn("{}: Delta Kernel could not checkpoint version {} ({})", path, version, e.toString());
      return null;
    }
  }

  private static void removeExpiredChecksumsLogged(org.apache.hadoop.conf.Configuration conf, String path) {
    try {
      int removed = removeExpiredChecksums(conf, path);
      if (removed > 0) {
        LOG.info("{}: {} checksum files of expired versions removed", path, removed);
      }
    } catch (Exception e) {
      LOG.warn("{}: checksum files of expired versions left ({})", path, e.toString());
    }
  }

  /** A version's commit or checksum file in {@code _delta_log}. */
  private static final java.util.regex.Pattern VERSIONED =
      java.util.regex.Pattern.compile("(\\d{20})\\.(json|crc)");

  /**
   * Kernel's log cleanup removes the commits and checkpoints {@code delta.logRetentionDuration}
   * lets go, but not Delta Spark's checksum file ({@code N.crc}) of each of those versions, as
   * Delta Spark's cleanup does. Removes the checksum files of versions older than the oldest
   * commit left (no reader opens a version's checksum without its commit). Returns how many.
   */
  static int removeExpiredChecksums(org.apache.hadoop.conf.Configuration conf, String path)
      throws java.io.IOException {
    org.apache.hadoop.fs.Path log = new org.apache.hadoop.fs.Path(path, "_delta_log");
    org.apache.hadoop.fs.FileSystem fs = log.getFileSystem(conf);
    long oldestCommit = Long.MAX_VALUE;
    Map<Long, org.apache.hadoop.fs.Path> checksums = new java.util.TreeMap<>();
    for (org.apache.hadoop.fs.FileStatus f : fs.listStatus(log)) {
      java.util.regex.Matcher m = VERSIONED.matcher(f.getPath().getName());
      if (m.matches()) {
        long v = Long.parseLong(m.group(1));
        if (m.group(2).equals("json")) {
          oldestCommit = Math.min(oldestCommit, v);
        } else {
          checksums.put(v, f.getPath());
        }
      }
    }
    int removed = 0;
    for (Map.Entry<Long, org.apache.hadoop.fs.Path> c : checksums.entrySet()) {
      if (c.getKey() < oldestCommit && fs.delete(c.getValue(), false)) {
        removed++;
      }
    }
    return removed;
  }
}
