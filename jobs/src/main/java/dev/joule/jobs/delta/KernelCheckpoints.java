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
 * one, with {@code _last_checkpoint}; it then removes expired commits and checkpoints, though not
 * their {@code .crc} files) without a Spark job.
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
   * After a commit of {@code version} to {@code path}: a checkpoint at that version where the
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
    var cpu = ManagementFactory.getThreadMXBean();
    long c0 = cpu.getCurrentThreadCpuTime();
    try {
      io.delta.kernel.Table.forPath(engine, path).checkpoint(engine, version);
      LOG.info("{}: checkpoint at version {} written by Delta Kernel ({} ms CPU)", path, version,
          String.format(java.util.Locale.ROOT, "%.1f", (cpu.getCurrentThreadCpuTime() - c0) / 1e6));
    } catch (io.delta.kernel.exceptions.CheckpointAlreadyExistsException e) {
      // another writer made it: nothing to do
    } catch (Exception e) {
      LOG.warn("{}: Delta Kernel could not checkpoint version {} ({}); Delta Spark does", path, version, e.toString());
      try {
        DeltaLog log = DeltaLog.forTable(spark, path);
        Snapshot at = log.getSnapshotAt(version, scala.Option.empty(), scala.Option.empty(), false);
        log.checkpoint(at, scala.Option.empty());
      } catch (Exception again) {
        LOG.warn("{}: no checkpoint at version {} ({})", path, version, again.toString());
      }
    }
  }
}
