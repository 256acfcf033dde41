package dev.joule.jobs.console;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobEnd;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.SparkSession;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The Spark jobs a command ran, with what each cost its tasks ({@code --profile}): how many there
 * were, where in Joule each was started, and their task CPU and wall time. The CPU of the driver
 * between jobs (planning, Delta's log, commits) is not any job's; the claim card's process and
 * fixed lines hold it.
 */
public final class SparkJobProfile extends SparkListener {

  /** One job: its call site (or description), stages, tasks and their CPU, and its wall time. */
  public record Job(int id, String what, int stages, int tasks, long taskCpuNanos, long wallMillis) {}

  private final Map<Integer, Integer> jobOfStage = new ConcurrentHashMap<>();
  private final Map<Integer, long[]> taskCost = new ConcurrentHashMap<>();
  private final Map<Integer, SparkListenerJobStart> started = new ConcurrentHashMap<>();
  private final Map<Integer, Long> ended = new ConcurrentHashMap<>();

  /** Starts listening on {@code spark}'s context. */
  public static SparkJobProfile attach(SparkSession spark) {
    SparkJobProfile p = new SparkJobProfile();
    spark.sparkContext().addSparkListener(p);
    return p;
  }

  @Override
  public void onJobStart(SparkListenerJobStart start) {
    started.put(start.jobId(), start);
    for (Object stage : CollectionConverters.asJava(start.stageIds())) {
      jobOfStage.put((Integer) stage, start.jobId());
    }
  }

  @Override
  public void onJobEnd(SparkListenerJobEnd end) {
    ended.put(end.jobId(), end.time());
  }

  @Override
  public void onTaskEnd(SparkListenerTaskEnd end) {
    Integer job = jobOfStage.get(end.stageId());
    if (job == null || end.taskMetrics() == null) {
      return;
    }
    taskCost.merge(job, new long[] {1, end.taskMetrics().executorCpuTime()},
        (a, b) -> new long[] {a[0] + b[0], a[1] + b[1]});
  }

  /** The jobs seen so far, in the order they started. */
  public List<Job> jobs() {
    List<Job> out = new ArrayList<>();
    started.keySet().stream().sorted().forEach(id -> {
      SparkListenerJobStart s = started.get(id);
      long[] cost = taskCost.getOrDefault(id, new long[2]);
      Long end = ended.get(id);
      out.add(new Job(id, what(s), s.stageIds().size(), (int) cost[0], cost[1],
          end == null ? -1 : end - s.time()));
    });
    return out;
  }

  /** The Spark local property that names the Joule step a job belongs to. */
  public static final String STEP = "joule.step";

  /**
   * Names the step the calling thread is in: the Spark jobs it starts from now on carry the name
   * (a local property, so it follows the jobs of this thread only). A no-op without a session.
   */
  public static void step(String name) {
    scala.Option<SparkSession> s = SparkSession.getActiveSession();
    if (s.isDefined()) {
      s.get().sparkContext().setLocalProperty(STEP, name);
    }
  }

  /**
   * Where the job was started: the Joule step ({@link #step}), then its result stage's name (Spark's short call site, such as {@code
   * collect at Scoring.java:350}), with the job's description when it has one.
   */
  private static String what(SparkListenerJobStart s) {
    String site = CollectionConverters.asJava(s.stageInfos()).stream()
        .max(java.util.Comparator.comparingInt(org.apache.spark.scheduler.StageInfo::stageId))
        .map(org.apache.spark.scheduler.StageInfo::name).orElse("?");
    java.util.Properties p = s.properties();
    String step = p == null ? null : p.getProperty(STEP);
    String description = p == null ? null : p.getProperty("spark.job.description");
    return (step == null ? "" : step + ": ") + (description == null ? site : description + " (" + site + ")");
  }

  /** Stops listening, once the listener bus has delivered every event, and returns the jobs. */
  public List<Job> stop(SparkSession spark) {
    try {
      spark.sparkContext().listenerBus().waitUntilEmpty(10_000);
    } catch (java.util.concurrent.TimeoutException e) {
      // the jobs listed may be short; said by print
    }
    spark.sparkContext().removeSparkListener(this);
    return jobs();
  }

  /** Stops listening and prints the jobs. */
  public void print(SparkSession spark, PrintStream out) {
    List<Job> jobs = stop(spark);
    if (jobs.stream().anyMatch(j -> j.wallMillis() < 0)) {
      out.println("profile: some jobs had not ended when the listener bus was read (still running, or not drained)");
    }
    long cpu = jobs.stream().mapToLong(Job::taskCpuNanos).sum();
    out.printf(Locale.ROOT, "%nprofile: %d Spark jobs, %.2f s task CPU in all (measured; the driver's CPU between "
        + "jobs is not in it)%n", jobs.size(), cpu / 1e9);
    out.printf(Locale.ROOT, "  %5s %6s %6s %10s %9s  %s%n", "job", "stages", "tasks", "task CPU s", "wall s", "started at");
    for (Job j : jobs) {
      out.printf(Locale.ROOT, "  %5d %6d %6d %10.3f %9s  %s%n", j.id(), j.stages(), j.tasks(), j.taskCpuNanos() / 1e9,
          j.wallMillis() < 0 ? "-" : String.format(Locale.ROOT, "%.3f", j.wallMillis() / 1e3), j.what());
    }
  }
}
