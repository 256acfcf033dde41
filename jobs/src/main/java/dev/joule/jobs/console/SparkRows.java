package dev.joule.jobs.console;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntSupplier;
import org.apache.spark.scheduler.AccumulableInfo;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorMetricsUpdate;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import scala.Tuple4;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Rows done per progress phase, from Spark's task metrics: finished tasks at their end, running
 * tasks from the executors' heartbeats (every {@code spark.executor.heartbeatInterval}), so a
 * phase that is one long task still moves. A task's rows are the most of: input records read,
 * output records written, and its operators' "number of output rows". A phase's rows are those
 * of its busiest stage (stages of one phase mostly pass the same rows on: they are not added up).
 */
final class SparkRows extends SparkListener {

  static final String READ = "internal.metrics.input.recordsRead";
  static final String WRITTEN = "internal.metrics.output.recordsWritten";
  static final String OUTPUT_ROWS = "number of output rows";

  private final IntSupplier phase;
  private final Map<Integer, Integer> stagePhase = new ConcurrentHashMap<>();
  private final Map<Integer, Long> stageDone = new ConcurrentHashMap<>();
  /** Running tasks: task id → {stage id, rows so far}. */
  private final Map<Long, long[]> running = new ConcurrentHashMap<>();
  private final Set<Long> ended = ConcurrentHashMap.newKeySet();

  SparkRows(IntSupplier phase) {
    this.phase = phase;
  }

  /** A task's rows from its accumulator updates (name → value). */
  static long rows(Iterable<AccumulableInfo> accumulables) {
    long rows = 0;
    for (AccumulableInfo a : accumulables) {
      if (a.name().isEmpty() || a.update().isEmpty() || !(a.update().get() instanceof Number n)) {
        continue;
      }
      String name = a.name().get();
      if (name.equals(READ) || name.equals(WRITTEN) || name.equals(OUTPUT_ROWS)) {
        rows = Math.max(rows, n.longValue());
      }
    }
    return rows;
  }

  @Override
  public void onStageSubmitted(SparkListenerStageSubmitted s) {
    stagePhase.putIfAbsent(s.stageInfo().stageId(), phase.getAsInt());
  }

  @Override
  public void onTaskEnd(SparkListenerTaskEnd end) {
    long task = end.taskInfo().taskId();
    ended.add(task);
    running.remove(task);
    if (end.taskInfo().successful()) {
      long r = rows(CollectionConverters.asJava(end.taskInfo().accumulables()));
      if (r == 0 && end.taskMetrics() != null) {
        r = Math.max(end.taskMetrics().inputMetrics().recordsRead(), end.taskMetrics().outputMetrics().recordsWritten());
      }
      stageDone.merge(end.stageId(), r, Long::sum);
    }
  }

  @Override
  public void onExecutorMetricsUpdate(SparkListenerExecutorMetricsUpdate u) {
    for (Tuple4<Object, Object, Object, scala.collection.immutable.Seq<AccumulableInfo>> t
        : CollectionConverters.asJava(u.accumUpdates())) {
      long task = (Long) t._1();
      if (!ended.contains(task)) {
        running.put(task, new long[] {(Integer) t._2(), rows(CollectionConverters.asJava(t._4()))});
      }
    }
  }

  /** Rows done in phase {@code seq}: its busiest stage's finished and running tasks. */
  long rows(int seq) {
    Map<Integer, Long> byStage = new java.util.HashMap<>();
    stagePhase.forEach((stage, p) -> {
      if (p == seq) {
        byStage.put(stage, stageDone.getOrDefault(stage, 0L));
      }
    });
    for (long[] r : List.copyOf(running.values())) {
      byStage.computeIfPresent((int) r[0], (k, v) -> v + r[1]);
    }
    return byStage.values().stream().mapToLong(Long::longValue).max().orElse(0);
  }
}
