package dev.joule.jobs.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.jobs.score.ScoreResult;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The claim card: what was measured, on what, against what, by which method. Every energy figure
 * carries its method; a ratio of two {@code estimated_cputime} figures is stated as the CPU-time
 * ratio it is; with no baseline in the run, no saving is claimed.
 */
public final class ClaimCard {

  /** A figure that does not exist (per row with no row scored) is JSON null, never the string "NaN". */
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
      .registerModule(new com.fasterxml.jackson.databind.module.SimpleModule().addSerializer(Double.class,
          new com.fasterxml.jackson.databind.ser.std.StdSerializer<Double>(Double.class) {
            @Override
            public void serialize(Double v, com.fasterxml.jackson.core.JsonGenerator g,
                com.fasterxml.jackson.databind.SerializerProvider p) throws java.io.IOException {
              if (v.isNaN() || v.isInfinite()) {
                g.writeNull();
              } else {
                g.writeNumber(v);
              }
            }
          }));

  private final ScoreResult baseline; // null: no baseline in this run
  private final ScoreResult candidate;
  private final Quality quality; // null when no comparison was made
  private final String order;
  private final String verb; // what happened to a row that was not rejected: scored, embedded
  private final ProcessCost process; // null: not printed by the process that ran it

  /**
   * What the whole process that printed a card has cost so far: user + sys CPU and wall time
   * since the JVM started (its start-up, JIT compilation, every Spark job and commit), which is
   * what the machine pays for the command; the energy figures cover partition tasks and the
   * run's own fixed part only.
   */
  public record ProcessCost(double cpuSeconds, double wallSeconds) {
    public static ProcessCost sinceJvmStart() {
      return new ProcessCost(dev.joule.jobs.score.Scoring.processCpuNanos() / 1e9,
          java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime() / 1e3);
    }
  }

  private ClaimCard(ScoreResult baseline, ScoreResult candidate, Quality quality, String order) {
    this(baseline, candidate, quality, order, "scored", null);
  }

  private ClaimCard(ScoreResult baseline, ScoreResult candidate, Quality quality, String order, String verb,
      ProcessCost process) {
    this.verb = verb;
    this.baseline = baseline;
    this.candidate = candidate;
    this.quality = quality;
    this.order = order;
    this.process = process;
  }

  /** This card with the cost of the process printing it. */
  public ClaimCard withProcess(ProcessCost p) {
    return new ClaimCard(baseline, candidate, quality, order, verb, p);
  }

  /** The card of a single run: its energy and methods, and no ratio (there is no baseline). */
  public static ClaimCard forRun(ScoreResult run) {
    return new ClaimCard(null, run, null, null);
  }

  /** One run whose rows were not scored but, say, {@code embedded}: the card says so. */
  public static ClaimCard forRun(ScoreResult run, String verb) {
    return new ClaimCard(null, run, null, null, verb, null);
  }

  /** A candidate compared with a baseline scored on the same rows, on the same machine, in one run. */
  public static ClaimCard compare(ScoreResult baseline, ScoreResult candidate, Quality quality, String order) {
    return new ClaimCard(baseline, candidate, quality, order);
  }

  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    EnergySummary e = candidate.energy();
    m.put("claim", baseline == null ? (refused(candidate)
        ? "energy of one run, refused by the quality gate: nothing published; no baseline, no saving claimed"
        : "energy of one run; no baseline in this run, no saving claimed")
        : candidate.kernel() + " vs " + baseline.kernel() + " on the same rows, same machine, same run");
    m.put("rows", Map.of("in", candidate.rowsIn(), verb, candidate.rowsScored(),
        "rejected", candidate.rowsRejected()));
    m.put("workload", workload(candidate));
    m.put("hardware", hardware(e));
    List<Map<String, Object>> runs = new ArrayList<>();
    if (baseline != null) {
      runs.add(runFigures(baseline, "baseline"));
    }
    runs.add(runFigures(candidate, baseline == null ? "run" : "candidate"));
    m.put("runs", runs);
    if (baseline != null) {
      EnergySummary b = baseline.energy();
      Map<String, Object> ratio = new LinkedHashMap<>();
      ratio.put("estimated_cputime_per_row", ratioPerRow(e.estimatedJ(), e, b.estimatedJ(), b));
      ratio.put("estimated_cputime_kernel_only_per_row", ratioPerRow(e.kernelEstimatedJ(), e, b.kernelEstimatedJ(), b));
      ratio.put("modelled_ops_bytes_per_row", ratioPerRow(e.modelledJ(), e, b.modelledJ(), b));
      if (e.measured() && b.measured()) {
        ratio.put("measured_per_row", ratioPerRow(e.measuredJ(), e, b.measuredJ(), b));
      }
      ratio.put("meaning", (e.measured() && b.measured()
          ? "measured_per_row is a ratio of measured energy (counter readings shared among concurrent "
          + "partitions, with the unattributed rest); " : "no RAPL or NVML in both runs: no measured ratio; ")
          + "estimated_cputime ratios are CPU-time ratios (the assumed power band cancels); modelled "
          + "ratios come from counted ops and bytes (Horowitz 45 nm constants, relative only)");
      m.put("ratio_candidate_over_baseline", ratio);
      m.put("order", order);
    }
    if (quality != null) {
      m.put("quality", Map.of("baseline", quality.baselineKernel(), "candidate", quality.candidateKernel(),
          "rows_compared", quality.rowsCompared(), "top1_agreement", quality.top1Agreement(),
          "max_abs_prob_error", quality.maxAbsProbError(), "mean_abs_prob_error", quality.meanAbsProbError()));
    }
    if (candidate.gate() != null) {
      m.put("quality_gate", candidate.gate().toMap());
    }
    m.put("saving_split", baseline == null ? "n/a (no baseline)"
        : "all from cheaper rows: every row was scored in both runs; none were skipped as unchanged");
    m.put("methods", methods(e));
    if (process != null) {
      m.put("process", Map.of("cpu_seconds_since_jvm_start", process.cpuSeconds(),
          "wall_seconds_since_jvm_start", process.wallSeconds(),
          "meaning", "user + sys CPU of this whole process so far: JVM and Spark start-up, JIT compilation, "
              + "every Spark job and commit of the command (the energy figures cover partition tasks and the "
              + "run's fixed part only)"));
    }
    return m;
  }

  public String toJson() {
    return json(toMap());
  }

  /** Pretty JSON of a card map (or several cards combined). */
  public static String json(Map<String, Object> map) {
    try {
      return JSON.writeValueAsString(map);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  public String toText() {
    EnergySummary e = candidate.energy();
    PowerProfile p = e.profile();
    StringBuilder s = new StringBuilder();
    String rule = "=".repeat(78);
    s.append(rule).append('\n').append(" JOULE CLAIM CARD").append('\n').append(rule).append('\n');
    line(s, "claim", baseline == null
        ? (refused(candidate) ? "energy of run " + candidate.runId() + ", REFUSED by the quality gate: nothing "
            + "published (no baseline: no saving claimed)"
            : "energy of run " + candidate.runId() + " (no baseline in this run: no saving claimed)")
        : candidate.kernel() + " vs baseline " + baseline.kernel() + ": same rows, same machine, same run");
    line(s, "rows", String.format(Locale.ROOT, "%,d in = %,d " + verb + " + %,d rejected", candidate.rowsIn(),
        candidate.rowsScored(), candidate.rowsRejected()));
    line(s, "workload", String.format(Locale.ROOT, "dim %d, %d outputs per row, batch %,d rows, %d partitions, kernels on %s",
        candidate.dim(), candidate.outputs(), e.batchRows(), e.partitions(), e.vectorOps()));
    line(s, "hardware", String.format(Locale.ROOT, "%s, %d vCPU, %.0f GiB, hypervisor %s, RAPL %s, GPU %s",
        e.cpuModel(), e.vcpus(), e.ramBytes() / 1073741824.0, yesNo(e.hypervisor()), yesNo(e.raplAvailable()),
        e.gpu().startsWith("none found") ? "none found (no NVML)" : e.gpu()));
    line(s, "power band", String.format(Locale.ROOT, "profile %s%s: %.2f / %.2f / %.2f W per busy vCPU (low/typical/high), "
        + "an assumption, not a measurement", p.name(), p.generic() ? " (GENERIC fallback)" : "",
        p.cpuWattsLow(), p.cpuWattsTypical(), p.cpuWattsHigh()));
    s.append('\n');
    List<ScoreResult> cols = baseline == null ? List.of(candidate) : List.of(baseline, candidate);
    s.append(String.format(Locale.ROOT, "  %-44s", "energy per 1k rows"));
    for (ScoreResult r : cols) {
      s.append(String.format(Locale.ROOT, "%-26s", r.kernel() + (r == baseline ? " (baseline)" : "")));
    }
    s.append('\n');
    row(s, "estimated_cputime, whole task", cols, r -> {
      EnergySummary x = r.energy();
      return String.format(Locale.ROOT, "%s [%s-%s]", j(x.per1k(x.estimatedJ())), j(x.per1k(x.estimatedLowJ())),
          j(x.per1k(x.estimatedHighJ())));
    });
    row(s, "estimated_cputime, kernel calls only", cols, r -> j(r.energy().per1k(r.energy().kernelEstimatedJ())));
    if (cols.stream().anyMatch(r -> r.energy().measured())) {
      row(s, "measured (RAPL/NVML), shares + rest", cols, r -> r.energy().measured()
          ? j(r.energy().per1k(r.energy().measuredJ())) : "not measured");
    }
    row(s, "modelled_ops_bytes (45 nm, relative)", cols, r -> j(r.energy().per1k(r.energy().modelledJ())));
    row(s, "per row, estimated_cputime", cols, r -> j(perRow(r)));
    row(s, "fixed per run, estimated_cputime", cols, r -> String.format(Locale.ROOT, "%s [%s-%s]",
        j(r.energy().fixedEstimatedJ()), j(r.energy().fixedEstimatedLowJ()), j(r.energy().fixedEstimatedHighJ())));
    row(s, "thread CPU s (all tasks / kernel calls)", cols, r -> String.format(Locale.ROOT, "%.2f / %.2f",
        r.energy().threadCpuNanos() / 1e9, r.energy().kernelCpuNanos() / 1e9));
    row(s, "bytes sent over the bridge", cols, r -> String.format(Locale.ROOT, "%,d", r.energy().bytesSent()));
    if (baseline != null) {
      EnergySummary b = baseline.energy();
      s.append('\n');
      s.append(String.format(Locale.ROOT, "  ratio %s / %s per row:%n", candidate.kernel(), baseline.kernel()));
      s.append(String.format(Locale.ROOT, "    %-42s %.3f%n", "whole task (estimated_cputime)",
          ratioPerRow(e.estimatedJ(), e, b.estimatedJ(), b)));
      s.append(String.format(Locale.ROOT, "    %-42s %.3f%n", "kernel calls only (estimated_cputime)",
          ratioPerRow(e.kernelEstimatedJ(), e, b.kernelEstimatedJ(), b)));
      s.append(String.format(Locale.ROOT, "    %-42s %.3f%n", "modelled_ops_bytes",
          ratioPerRow(e.modelledJ(), e, b.modelledJ(), b)));
      if (e.measured() && b.measured()) {
        s.append(String.format(Locale.ROOT, "    %-42s %.3f%n", "measured (RAPL/NVML, shares + rest)",
            ratioPerRow(e.measuredJ(), e, b.measuredJ(), b)));
      }
      s.append(e.measured() && b.measured()
          ? "    the estimated ratios ARE CPU-time ratios (the assumed power band cancels); the modelled\n"
          + "    ratio counts ops and bytes, not joules drawn.\n"
          : "    no RAPL/NVML in both runs, so no measured ratio: the estimated ratios ARE CPU-time ratios\n"
          + "    (the assumed power band cancels); the modelled ratio counts ops and bytes, not joules drawn.\n");
      line(s, "order", order);
    }
    if (quality != null) {
      s.append('\n');
      line(s, "quality", String.format(Locale.ROOT, "%s vs %s on %,d rows: top-1 agreement %.3f %%, "
          + "max |dp| %.5f, mean |dp| %.6f", quality.candidateKernel(), quality.baselineKernel(),
          quality.rowsCompared(), 100 * quality.top1Agreement(), quality.maxAbsProbError(),
          quality.meanAbsProbError()));
    }
    if (candidate.gate() != null) {
      line(s, "quality gate", candidate.gate().describe());
    }
    if (process != null) {
      line(s, "process", String.format(Locale.ROOT, "whole process %.1f CPU-s, %.1f s wall since the JVM started "
          + "(start-up, JIT compilation, every Spark job and commit of this command; the energy rows above "
          + "cover partition tasks and the run's fixed part only)", process.cpuSeconds(), process.wallSeconds()));
    }
    line(s, "saving split", baseline == null ? "n/a (no baseline)"
        : "all from cheaper rows; none from rows not recomputed (every row scored in both runs)");
    line(s, "methods", String.join(", ", e.methods()) + (e.measured() ? "" : " (nothing measured: no RAPL, no NVML)"));
    s.append("  estimated_cputime  = thread CPU s x W per busy vCPU (band above) + DRAM W/GB x GB attributed x wall s\n");
    s.append("  modelled_ops_bytes = MACs, quantized values, DRAM and SRAM bytes x Horowitz ISSCC 2014 energies\n");
    s.append("  fixed per run      = process CPU outside partition tasks (planning, commit, Spark threads)\n");
    s.append(rule).append('\n');
    return s.toString();
  }

  /** Estimated joules per scored row; NaN (printed n/a) when no row was scored. */
  private static double perRow(ScoreResult r) {
    return r.rowsScored() == 0 ? Double.NaN : r.energy().estimatedJ() / r.rowsScored();
  }

  private static boolean refused(ScoreResult r) {
    return !r.committed() && r.gate() != null && r.gate().status().equals("failed");
  }

  private static double ratioPerRow(double cand, EnergySummary c, double base, EnergySummary b) {
    return (cand / Math.max(1, c.rowsScored())) / (base / Math.max(1, b.rowsScored()));
  }

  private static Map<String, Object> workload(ScoreResult r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("dim", r.dim());
    m.put("outputs_per_row", r.outputs());
    m.put("batch_rows", r.energy().batchRows());
    m.put("partitions", r.energy().partitions());
    m.put("vector_ops", r.energy().vectorOps());
    m.put("input", r.input());
    m.put("input_version", r.inputVersion());
    return m;
  }

  private static Map<String, Object> hardware(EnergySummary e) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("cpu_model", e.cpuModel());
    m.put("vcpus", e.vcpus());
    m.put("ram_bytes", e.ramBytes());
    m.put("hypervisor", e.hypervisor());
    m.put("rapl_available", e.raplAvailable());
    m.put("gpu", e.gpu());
    PowerProfile p = e.profile();
    m.put("power_profile", Map.of("name", p.name(), "generic", p.generic(), "cpu_watts_per_vcpu_low",
        p.cpuWattsLow(), "cpu_watts_per_vcpu_typical", p.cpuWattsTypical(), "cpu_watts_per_vcpu_high",
        p.cpuWattsHigh(), "dram_watts_per_gb", p.dramWattsPerGb(), "source", p.source()));
    return m;
  }

  private static Map<String, Object> runFigures(ScoreResult r, String role) {
    EnergySummary e = r.energy();
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("role", role);
    m.put("run_id", r.runId());
    m.put("kernel", r.kernel());
    m.put("precision", r.precision());
    m.put("kernel_id", r.kernelId());
    m.put("rows_scored", r.rowsScored());
    m.put("estimated_cputime_joules_per_1k_rows", Map.of("typical", e.per1k(e.estimatedJ()),
        "low", e.per1k(e.estimatedLowJ()), "high", e.per1k(e.estimatedHighJ())));
    m.put("estimated_cputime_kernel_only_joules_per_1k_rows", e.per1k(e.kernelEstimatedJ()));
    m.put("modelled_ops_bytes_joules_per_1k_rows", Map.of("mid", e.per1k(e.modelledJ()),
        "low", e.per1k(e.modelledLowJ()), "high", e.per1k(e.modelledHighJ())));
    m.put("estimated_cputime_joules_per_row", perRow(r));
    m.put("fixed_estimated_cputime_joules", Map.of("typical", e.fixedEstimatedJ(),
        "low", e.fixedEstimatedLowJ(), "high", e.fixedEstimatedHighJ()));
    m.put("thread_cpu_seconds", e.threadCpuNanos() / 1e9);
    m.put("kernel_cpu_seconds", e.kernelCpuNanos() / 1e9);
    m.put("bytes_read", e.bytesRead());
    m.put("bytes_sent", e.bytesSent());
    m.put("wall_seconds", r.wallNanos() / 1e9);
    m.put("committed", r.committed());
    return m;
  }

  private static Map<String, String> methods(EnergySummary e) {
    Map<String, String> m = new LinkedHashMap<>();
    for (String method : e.methods()) {
      m.put(method, switch (method) {
        case "estimated_cputime" -> "thread CPU seconds x assumed W per busy vCPU (low/typical/high) + DRAM W/GB x GB attributed x wall seconds";
        case "modelled_ops_bytes" -> "counted MACs, quantized values, DRAM and SRAM bytes x per-op/per-byte energies, Horowitz ISSCC 2014 (45 nm); relative only";
        case "measured_rapl" -> "RAPL package and DRAM counters read at each partition's start and end, shared among "
            + "concurrent partitions by thread CPU time (cpu_time_share); the rest (other threads, the socket) is "
            + "recorded as unattributed and included in totals";
        case "measured_nvml" -> "NVML GPU total-energy counters, shared among concurrent batches by rows (rows_share)";
        default -> "measured";
      });
    }
    m.put("fixed", "process CPU outside partition tasks x typical W per vCPU (estimated_cputime)");
    return m;
  }

  private interface Cell {
    String of(ScoreResult r);
  }

  private static void row(StringBuilder s, String label, List<ScoreResult> cols, Cell cell) {
    s.append(String.format(Locale.ROOT, "  %-44s", label));
    for (ScoreResult r : cols) {
      s.append(String.format(Locale.ROOT, "%-26s", cell.of(r)));
    }
    s.append('\n');
  }

  private static void line(StringBuilder s, String label, String text) {
    s.append(String.format(Locale.ROOT, "  %-12s %s%n", label, text));
  }

  private static String yesNo(boolean b) {
    return b ? "yes" : "no";
  }

  /** Joules with a unit that keeps three significant figures readable. */
  static String j(double joules) {
    if (Double.isNaN(joules)) {
      return "n/a";
    }
    double a = Math.abs(joules);
    if (a >= 1 || a == 0) {
      return String.format(Locale.ROOT, "%.3g J", joules);
    }
    if (a >= 1e-3) {
      return String.format(Locale.ROOT, "%.3g mJ", joules * 1e3);
    }
    if (a >= 1e-6) {
      return String.format(Locale.ROOT, "%.3g uJ", joules * 1e6);
    }
    return String.format(Locale.ROOT, "%.3g nJ", joules * 1e9);
  }
}
