package dev.joule.udfs;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.scheduler.AccumulableInfo;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Sums the {@link EnergyAccumulators} updates of successful tasks per stage and per job, from the
 * task-end events: what a run's driver (or a scheduler's log) can report without reading the
 * energy_log back.
 */
public final class JouleEnergyListener extends SparkListener {

  /** Totals of one stage or job. */
  public record Totals(long rows, double estimatedJ, double measuredJ, int tasks) {
    Totals plus(Totals o) {
      return new Totals(rows + o.rows, estimatedJ + o.estimatedJ, measuredJ + o.measuredJ, tasks + o.tasks);
    }
  }

  private static final Totals ZERO = new Totals(0, 0, 0, 0);
  /** The accumulator ids to count, or null: every Joule accumulator (all runs of the context). */
  private final java.util.Set<Long> ids;

  /** Counts every run's Joule accumulators. */
  public JouleEnergyListener() {
    this.ids = null;
  }

  /** Counts one run's accumulators only, so runs sharing a Spark context are kept apart. */
  public JouleEnergyListener(EnergyAccumulators run) {
    this.ids = java.util.Set.of(run.rowsScored().id(), run.estimatedJ().id(), run.measuredJ().id());
  }
  private final Map<Integer, Totals> stages = new ConcurrentHashMap<>();
  private final Map<Integer, Integer> jobOfStage = new ConcurrentHashMap<>();
  private final Map<Integer, Totals> jobs = new ConcurrentHashMap<>();

  @Override
  public void onJobStart(SparkListenerJobStart start) {
    for (Object stage : CollectionConverters.asJava(start.stageIds())) {
      jobOfStage.put((Integer) stage, start.jobId());
    }
  }

  @Override
  public void onTaskEnd(SparkListenerTaskEnd end) {
    if (end.taskInfo() == null || !end.taskInfo().successful()) {
      return;
    }
    long rows = 0;
    double est = 0;
    double meas = 0;
    boolean ours = false;
    for (AccumulableInfo a : CollectionConverters.asJava(end.taskInfo().accumulables())) {
      if (a.name().isEmpty() || a.update().isEmpty() || !a.name().get().startsWith(EnergyAccumulators.PREFIX)
          || (ids != null && !ids.contains(a.id()))) {
        continue;
      }
      ours = true;
      Object v = a.update().get();
      switch (a.name().get()) {
        case EnergyAccumulators.ROWS -> rows += ((Number) v).longValue();
        case EnergyAccumulators.ESTIMATED -> est += ((Number) v).doubleValue();
        case EnergyAccumulators.MEASURED -> meas += ((Number) v).doubleValue();
        default -> { }
      }
    }
    if (!ours) {
      return;
    }
    Totals t = new Totals(rows, est, meas, 1);
    stages.merge(end.stageId(), t, Totals::plus);
    Integer job = jobOfStage.get(end.stageId());
    if (job != null) {
      jobs.merge(job, t, Totals::plus);
    }
  }

  public Totals stage(int stageId) {
    return stages.getOrDefault(stageId, ZERO);
  }

  public Totals job(int jobId) {
    return jobs.getOrDefault(jobId, ZERO);
  }

  /** Everything seen, all stages. */
  public Totals total() {
    return stages.values().stream().reduce(ZERO, Totals::plus);
  }

  public Map<Integer, Totals> stages() {
    return Map.copyOf(stages);
  }
}
