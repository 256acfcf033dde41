package dev.joule.bench;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.expr;

import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.config.JouleSpark;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.nightly.NightlyJob;
import dev.joule.jobs.report.EnergySummary;
import io.delta.tables.DeltaTable;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.SparkSession;

/**
 * The nightly benchmark: on one table, in one run, a night at 1 % churn (0.6 % inserted, 0.3 %
 * updated, 0.1 % deleted) against {@code --full} of the same night on the same output tables, then
 * one more night at the same churn once every query shape has run (a warm JVM, as in a backfill).
 * Prints wall and process-CPU seconds, estimated joules split into the run's fixed part and its
 * per-scored-row part, where the time went, and the ratios.
 *
 * <p>Usage: {@code bench/run-nightly.sh [--rows N] [--dim D] [--churn PCT] [--deletion-vectors true|false] [--set k=v]}.
 */
public final class NightlyBench {

  private NightlyBench() {}

  record Night(String name, NightlyJob.Result r, double wallS, double cpuS, long jobs, long tasks,
      Map<String, Long> jobsByStep, Map<String, Long> taskCpuByStep) {}

  /** Counts the Spark jobs and tasks a night runs: most of a small night's cost is per task. */
  static final class TaskCounter extends org.apache.spark.scheduler.SparkListener {
    final java.util.concurrent.atomic.AtomicLong jobs = new java.util.concurrent.atomic.AtomicLong();
    final java.util.concurrent.atomic.AtomicLong tasks = new java.util.concurrent.atomic.AtomicLong();
    /** Jobs per Joule step ({@code SparkJobProfile.step}) since the last {@link #steps} call. */
    final Map<String, Long> byStep = java.util.Collections.synchronizedMap(new java.util.LinkedHashMap<>());
    /** Task CPU nanoseconds per step since the last {@link #taskCpu} call. */
    final Map<String, Long> cpuByStep = java.util.Collections.synchronizedMap(new java.util.LinkedHashMap<>());
    final Map<Integer, String> stageStep = new java.util.concurrent.ConcurrentHashMap<>();

    Map<String, Long> steps() {
      synchronized (byStep) {
        Map<String, Long> copy = new java.util.LinkedHashMap<>(byStep);
        byStep.clear();
        return copy;
      }
    }

    Map<String, Long> taskCpu() {
      synchronized (cpuByStep) {
        Map<String, Long> copy = new java.util.LinkedHashMap<>(cpuByStep);
        cpuByStep.clear();
        return copy;
      }
    }

    @Override
    public void onJobStart(org.apache.spark.scheduler.SparkListenerJobStart e) {
      jobs.incrementAndGet();
      String step = e.properties() == null ? null : e.properties().getProperty(dev.joule.jobs.console.SparkJobProfile.STEP);
      byStep.merge(step == null ? "(no step)" : step, 1L, Long::sum);
      scala.jdk.javaapi.CollectionConverters.asJava(e.stageInfos())
          .forEach(st -> stageStep.put(st.stageId(), step == null ? "(no step)" : step));
      if (System.getenv("JOULE_BENCH_JOBS") != null && !e.stageInfos().isEmpty()) {
        System.err.println("JOB " + e.jobId() + " tasks=" + e.stageInfos().last().numTasks() + " "
            + e.properties().getProperty(dev.joule.jobs.console.SparkJobProfile.STEP, "") + " | "
            + e.properties().getProperty("spark.job.description", "") + " @ " + e.stageInfos().last().name()
            + " | " + e.stageInfos().last().details().lines().filter(l -> l.contains("dev.joule")).findFirst().orElse("").trim());
      }
    }

    @Override
    public void onTaskEnd(org.apache.spark.scheduler.SparkListenerTaskEnd e) {
      tasks.incrementAndGet();
      if (e.taskMetrics() != null) {
        cpuByStep.merge(stageStep.getOrDefault(e.stageId(), "(no step)"), e.taskMetrics().executorCpuTime(), Long::sum);
      }
    }
  }

  static final TaskCounter COUNTER = new TaskCounter();

  public static void main(String[] args) throws IOException {
    long rows = 500_000;
    int dim = 384;
    String dv = "true";
    List<String> extra = new ArrayList<>();
    double churnPct = 1.0;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--rows" -> rows = Long.parseLong(args[i + 1]);
        case "--dim" -> dim = Integer.parseInt(args[i + 1]);
        case "--deletion-vectors" -> dv = args[i + 1];
        case "--set" -> extra.add(args[i + 1]);
        case "--churn" -> churnPct = Double.parseDouble(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    Path dir = Path.of("bench", "target", "nightly-bench").toAbsolutePath();
    deleteTree(dir);
    String source = dir.resolve("source").toString();
    List<String> sets = new ArrayList<>(List.of("spark.master=local[2]", "spark.ui=false",
        "spark.conf.\"spark.sql.warehouse.dir\"=\"" + dir.resolve("warehouse") + "\"",
        "nightly.source=" + source, "nightly.model=" + dir.resolve("gen/teacher-model.json"),
        "nightly.output=" + dir.resolve("out"), "nightly.deletion-vectors=" + dv));
    sets.addAll(extra);
    JouleConfig config = JouleConfig.load(null, sets);
    SparkSession spark = JouleSpark.session(config, "joule nightly bench");
    spark.sparkContext().addSparkListener(COUNTER);
    try {
      long n = rows;
      System.out.printf(Locale.ROOT, "generating %,d x %d rows...%n", n, dim);
      GenerateJob.Output gen = new GenerateJob(spark).run(new GenerateJob.Request(
          n + 2 * inserts(n, churnPct) + 1, dim, 10, dir.resolve("gen").toString(), "array", 42, 0.3));
      spark.read().format("delta").load(gen.embeddings()).filter(col("id").lt(n)).select("id", "embedding")
          .write().format("delta").option("delta.enableChangeDataFeed", "true").save(source);
      LocalDate d1 = LocalDate.parse("2026-11-01");
      Night first = night(spark, config, "night 1 (first, full)", d1, false);

      churn(spark, gen.embeddings(), source, n, churnPct, 0);
      LocalDate d2 = d1.plusDays(1);
      Night incremental = night(spark, config, "night 2, incremental", d2, false);
      Night full = night(spark, config, "night 2, --full", d2, true);
      // The same churn again, in a JVM that has now run every query shape once: what a night
      // costs when its fixed part is no longer first-time JIT and code generation (a backfill).
      churn(spark, gen.embeddings(), source, n, churnPct, 1);
      Night warm = night(spark, config, "night 3, incremental (warm JVM)", d2.plusDays(1), false);
      report(dir, n, dim, churnPct, dv, List.of(first, incremental, full, warm), incremental, full, warm);
    } finally {
      spark.stop();
    }
  }

  /** The new rows of one round of churn: 0.6 of it. */
  static long inserts(long n, double churnPct) {
    return Math.round(n * churnPct * 0.006);
  }

  /**
   * One round (0 or 1, on distinct rows) of {@code churnPct} % churn: 0.6 of it new rows, 0.3
   * updated, 0.1 deleted (at 1 %: 0.6 %, 0.3 %, 0.1 %).
   */
  static void churn(SparkSession spark, String generated, String source, long n, double churnPct, int round) {
    long m = 100_000; // ids are picked by id % m, so the changes are spread over every file
    long updated = Math.round(m * churnPct * 0.003);
    long deleted = Math.round(m * churnPct * 0.001);
    long from = n + round * inserts(n, churnPct);
    spark.read().format("delta").load(generated).filter(col("id").geq(from).and(col("id").lt(from + inserts(n, churnPct))))
        .select("id", "embedding").write().format("delta").mode("append").save(source);
    DeltaTable t = DeltaTable.forPath(spark, source);
    t.update(expr("id % " + m + " >= " + round * updated + " AND id % " + m + " < " + (round + 1) * updated
        + " AND id < " + n), Map.of("embedding", expr("transform(embedding, x -> -x)")));
    t.delete(expr("id % " + m + " >= " + (m / 2 + round * deleted) + " AND id % " + m + " < "
        + (m / 2 + (round + 1) * deleted) + " AND id < " + n));
  }

  static Night night(SparkSession spark, JouleConfig config, String name, LocalDate d, boolean full) {
    dev.joule.jobs.score.Scoring.drainListeners(spark);
    if (System.getenv("JOULE_BENCH_JOBS") != null) {
      System.err.println("BEGIN " + name + " @" + System.currentTimeMillis()); // epoch ms: a profile's window
    }
    COUNTER.steps();
    COUNTER.taskCpu();
    long jobs0 = COUNTER.jobs.get();
    long tasks0 = COUNTER.tasks.get();
    Map<Long, long[]> threads0 = threadCpu();
    long cpu0 = processCpu();
    long t0 = System.nanoTime();
    NightlyJob.Result r = new NightlyJob(spark, config).run(new NightlyJob.Request(d, full, false));
    double wall = (System.nanoTime() - t0) / 1e9;
    double cpu = (processCpu() - cpu0) / 1e9;
    if (System.getenv("JOULE_BENCH_JOBS") != null) {
      System.err.println("THREADS " + name + ": " + byThreadGroup(threads0, threadCpu(), cpu));
    }
    dev.joule.jobs.score.Scoring.drainListeners(spark);
    if (System.getenv("JOULE_BENCH_JOBS") != null) {
      System.err.println("END " + name + " @" + System.currentTimeMillis());
    }
    Night night = new Night(name, r, wall, cpu, COUNTER.jobs.get() - jobs0, COUNTER.tasks.get() - tasks0,
        COUNTER.steps(), COUNTER.taskCpu());
    System.out.printf(Locale.ROOT, "%s: %s scan, %,d rows scored, %.1f s wall, %.1f s CPU, %d Spark jobs, %d tasks%n",
        name, r.scanMode(), r.scored(), night.wallS(), night.cpuS(), night.jobs(), night.tasks());
    return night;
  }

  static void report(Path dir, long n, int dim, double churnPct, String dv, List<Night> nights, Night inc, Night full, Night warm)
      throws IOException {
    StringBuilder s = new StringBuilder();
    s.append(String.format(Locale.ROOT, "Nightly benchmark, %s, %,d source rows x %d dims, int8 softmax head, local[2], "
        + "churn %.2f %% a night, predictions with deletion vectors: %s. One run, one machine; energy is estimated_cputime (no RAPL/NVML): "
        + "joule ratios are CPU-time ratios.%n%n", LocalDate.now(), n, dim, churnPct, dv));
    s.append("| night | scan | rows scored | rows deleted | Spark jobs / tasks | wall s | process CPU s | est. J, partition tasks | est. J, fixed (outside tasks) | est. J per scored row (tasks) |\n");
    s.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (Night x : nights) {
      EnergySummary e = x.r().score().energy();
      s.append(String.format(Locale.ROOT, "| %s | %s | %,d | %,d | %d / %d | %.1f | %.1f | %.2f [%.2f-%.2f] | %.2f | %.2e |%n",
          x.name(), x.r().scanMode(), x.r().scored(), x.r().deleted(), x.jobs(), x.tasks(), x.wallS(), x.cpuS(), e.estimatedJ(),
          e.estimatedLowJ(), e.estimatedHighJ(), e.fixedEstimatedJ(), e.estimatedJ() / Math.max(1, x.r().scored())));
    }
    s.append("\nWhere the time went (seconds):\n\n| night | ");
    List<String> phases = new ArrayList<>(inc.r().phaseNanos().keySet());
    s.append(String.join(" | ", phases)).append(" |\n| --- |").append(" --- |".repeat(phases.size())).append('\n');
    for (Night x : List.of(inc, full, warm)) {
      s.append("| ").append(x.name());
      for (String p : phases) {
        s.append(String.format(Locale.ROOT, " | %.1f", x.r().phaseNanos().getOrDefault(p, 0L) / 1e9));
      }
      s.append(" |\n");
    }
    s.append("\nSpark jobs by step, ").append(inc.name()).append(": ");
    s.append(String.join(", ", inc.jobsByStep().entrySet().stream().map(e -> e.getKey() + " " + e.getValue()).toList()))
        .append(" (").append(inc.jobs()).append(" in all)\n");
    for (Night x : List.of(inc, warm)) {
      s.append("Task CPU s by step, ").append(x.name()).append(": ").append(String.join(", ", x.taskCpuByStep()
          .entrySet().stream().map(e -> String.format(Locale.ROOT, "%s %.2f", e.getKey(), e.getValue() / 1e9)).toList()))
          .append(String.format(Locale.ROOT, " (process CPU %.1f s)%n", x.cpuS()));
    }
    fit(s, inc, full, "");
    // --full ran once, after night 2: pairing it with the warm night mixes a warm and a less warm
    // run, so b comes out too high and a too low.
    fit(s, warm, full, " Warm night against a --full that was not run warm: read a and b as bounds, not a fit.");
    System.out.print("\n" + s);
    Path out = Path.of("bench", "target", "nightly-bench.md");
    Files.writeString(out, s.toString());
    System.out.println("\nwritten: " + out);
  }

  /** Ratios of --full to one incremental night, and the two-point fit a + b x rows scored. */
  static void fit(StringBuilder s, Night inc, Night full, String caveat) {
    double ji = joules(inc);
    double jf = joules(full);
    s.append(String.format(Locale.ROOT, "%n%s vs --full: --full / incremental = process CPU %.1fx, wall %.1fx, "
        + "estimated J (tasks + fixed) %.1fx (a CPU-time ratio).%n", inc.name(), full.cpuS() / inc.cpuS(),
        full.wallS() / inc.wallS(), jf / ji));
    // cost = a + b x rows scored, through the two nights of the same table. b is the all-in
    // marginal cost of a row (reading, scoring, merging); a is what a night costs anyway.
    double b = (jf - ji) / Math.max(1, full.r().scored() - inc.r().scored());
    double a = ji - b * inc.r().scored();
    double churn = (double) inc.r().scored() / Math.max(1, full.r().scored());
    // A night at this churn is 20x cheaper than --full when a + N b >= 20 (a + churn N b).
    double breakEven = 19 * a / (b * (1 - 20 * churn));
    s.append(String.format(Locale.ROOT, "A night costs about a + b x rows scored (estimated): a = %.0f J fixed "
        + "(planning, change-data read, commits), b = %.2e J per scored row (reading, scoring, merging). At %.1f %% "
        + "churn a night is 20x cheaper than --full from about %,.0f source rows.%n", a, b, 100 * churn,
        breakEven > 0 ? breakEven : Double.NaN)).append(caveat.isEmpty() ? "" : caveat.strip() + "\n");
  }

  static double joules(Night x) {
    EnergySummary e = x.r().score().energy();
    return e.estimatedJ() + e.fixedEstimatedJ();
  }

  /** CPU nanoseconds of every live Java thread, by id, with its name's group as a hash. */
  static Map<Long, long[]> threadCpu() {
    java.lang.management.ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    Map<Long, long[]> out = new java.util.HashMap<>();
    for (long id : mx.getAllThreadIds()) {
      long t = mx.getThreadCpuTime(id);
      if (t >= 0) {
        out.put(id, new long[] {t});
      }
    }
    return out;
  }

  /**
   * Where a night's process CPU went, by thread group: the driver's main thread, Spark's task
   * threads, its other Java threads, and the rest (JIT compiler and GC threads, which are not
   * Java threads): a profile of the fixed cost without a profiler.
   */
  static String byThreadGroup(Map<Long, long[]> before, Map<Long, long[]> after, double processCpuS) {
    java.lang.management.ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    Map<String, Double> groups = new java.util.TreeMap<>();
    double java = 0;
    for (Map.Entry<Long, long[]> e : after.entrySet()) {
      java.lang.management.ThreadInfo info = mx.getThreadInfo(e.getKey());
      String name = info == null ? "?" : info.getThreadName();
      String g = name.equals("main") ? "main" : name.startsWith("Executor task launch") ? "tasks"
          : name.replaceAll("[-#]?\\d+", "");
      double s = (e.getValue()[0] - (before.containsKey(e.getKey()) ? before.get(e.getKey())[0] : 0)) / 1e9;
      groups.merge(g, s, Double::sum);
      java += s;
    }
    StringBuilder b = new StringBuilder();
    groups.entrySet().stream().filter(e -> e.getValue() >= 0.05).sorted((x, y) -> Double.compare(y.getValue(), x.getValue()))
        .forEach(e -> b.append(String.format(Locale.ROOT, "%s %.2f, ", e.getKey(), e.getValue())));
    return b.append(String.format(Locale.ROOT, "not Java threads (JIT, GC) %.2f, process %.2f s",
        processCpuS - java, processCpuS)).toString();
  }

  static long processCpu() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  /**
   * Removes the folders under {@code dir} (the bench's tables and generated data), keeping its
   * files (the nights' printed profiles, the timings): the tables of a 1M-row terms bench are
   * about 20 GB, and they outlived the bench until the next run emptied them.
   */
  static void deleteTables(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return;
    }
    try (var children = Files.list(dir)) {
      for (Path c : children.filter(Files::isDirectory).toList()) {
        deleteTree(c);
      }
    }
  }

  static void deleteTree(Path p) throws IOException {
    if (Files.exists(p)) {
      try (var w = Files.walk(p)) {
        w.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
  }
}
