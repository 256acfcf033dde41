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
  private final Pairing pairing; // how baseline and candidate were run; null without a baseline

  /**
   * How a baseline and a candidate were run, in words the card prints ("one run" only when it was
   * one), with the warnings a reader needs beside their ratios.
   */
  public record Pairing(String words, List<String> warnings) {

    /**
     * @param apartSeconds from the baseline's end to the candidate's end
     * @param oneCommand both ran in one command (one JVM), e.g. {@code joule demo}
     */
    public static Pairing of(ScoreResult baseline, ScoreResult candidate, double apartSeconds, boolean oneCommand) {
      EnergySummary b = baseline.energy();
      EnergySummary c = candidate.energy();
      boolean sameMachine = b.cpuModel().equals(c.cpuModel()) && b.vcpus() == c.vcpus() && b.ramBytes() == c.ramBytes();
      String apart = apartSeconds < 120 ? String.format(Locale.ROOT, "%.0f s apart", apartSeconds)
          : apartSeconds < 7200 ? String.format(Locale.ROOT, "%.0f minutes apart", apartSeconds / 60)
          : String.format(Locale.ROOT, "%.1f hours apart", apartSeconds / 3600);
      String words = "two runs" + (oneCommand ? " of one command" : "") + ", " + apart + ", "
          + (sameMachine ? "same machine" : "DIFFERENT machines (" + b.cpuModel() + " / " + c.cpuModel() + ")");
      List<String> warnings = new ArrayList<>();
      for (ScoreResult r : List.of(baseline, candidate)) {
        int before = r.energy().jvmRunsBefore();
        String role = r == baseline ? "the baseline" : "the candidate";
        if (before == 0) {
          warnings.add(role + " (" + r.kernel() + ") ran in a cold JVM without warm-up: its CPU includes JIT "
              + "compilation, which can move a single run's ratio by 2x or more");
        } else if (before < 0) {
          warnings.add(role + " (" + r.kernel() + ") did not record whether its JVM was warmed up");
        }
      }
      double lb = b.loadAvg1m();
      double lc = c.loadAvg1m();
      if (!Double.isNaN(lb) && !Double.isNaN(lc) && Math.abs(lb - lc) > 0.5
          && Math.max(lb, lc) > 1.5 * Math.min(lb, lc)) {
        warnings.add(String.format(Locale.ROOT, "the machine's load differed (1-minute load average %.2f during the "
            + "baseline, %.2f during the candidate): CPU time per row moves with contention", lb, lc));
      }
      if (!sameMachine) {
        warnings.add("the runs ran on different machines: a ratio across machines is not a saving of either");
      }
      return new Pairing(words, List.copyOf(warnings));
    }
  }

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

  private ClaimCard(ScoreResult baseline, ScoreResult candidate, Quality quality, String order, Pairing pairing) {
    this(baseline, candidate, quality, order, "scored", null, pairing);
  }

  private ClaimCard(ScoreResult baseline, ScoreResult candidate, Quality quality, String order, String verb,
      ProcessCost process, Pairing pairing) {
    this.pairing = pairing;
    this.verb = verb;
    this.baseline = baseline;
    this.candidate = candidate;
    this.quality = quality;
    this.order = order;
    this.process = process;
  }

  /** This card with the cost of the process printing it. */
  public ClaimCard withProcess(ProcessCost p) {
    return new ClaimCard(baseline, candidate, quality, order, verb, p, pairing);
  }

  /** The card of a single run: its energy and methods, and no ratio (there is no baseline). */
  public static ClaimCard forRun(ScoreResult run) {
    return new ClaimCard(null, run, null, null, (Pairing) null);
  }

  /** One run whose rows were not scored but, say, {@code embedded}: the card says so. */
  public static ClaimCard forRun(ScoreResult run, String verb) {
    return new ClaimCard(null, run, null, null, verb, null, null);
  }

  /** A candidate compared with a baseline scored on the same rows; {@code pairing} says how the two were run. */
  public static ClaimCard compare(ScoreResult baseline, ScoreResult candidate, Quality quality, String order,
      Pairing pairing) {
    return new ClaimCard(baseline, candidate, quality, order, pairing);
  }

  public ScoreResult baseline() {
    return baseline;
  }

  public ScoreResult candidate() {
    return candidate;
  }

  public Quality quality() {
    return quality;
  }

  /**
   * The result in one plain sentence, for the top of a report: the ratio with its method, the
   * agreement and the gate; for a single run its energy per 1k rows.
   */
  public String headline() {
    EnergySummary e = candidate.energy();
    // The comparison's own name for the candidate, e.g. "softmax@int8 from codes".
    String name = quality != null ? quality.candidateKernel() : candidate.kernel();
    if (baseline == null) {
      String per1k = j(e.per1k(e.estimatedJ()));
      return String.format(Locale.ROOT, "%s: %,d rows %s, %s per 1,000 rows (estimated_cputime), no baseline in "
          + "this run, so no saving claimed", name, candidate.rowsScored(), verb, per1k)
          + (candidate.gate() != null ? "; quality gate " + candidate.gate().status() : "");
    }
    EnergySummary b = baseline.energy();
    StringBuilder h = new StringBuilder(String.format(Locale.ROOT,
        "%s: %s the estimated CPU and DRAM energy of %s per row (estimated_cputime; thread CPU %s)", name,
        times(ratioPerRow(e.estimatedJ(), e, b.estimatedJ(), b)), baseline.kernel(),
        times(ratioPerRow(e.threadCpuNanos(), e, b.threadCpuNanos(), b))));
    if (quality != null && quality.rowsCompared() > 0) {
      h.append(String.format(Locale.ROOT, ", top-1 agreement %.2f %% on %,d rows%s", 100 * quality.top1Agreement(),
          quality.rowsCompared(), Quality.GATE_SAMPLE.equals(quality.basis()) ? " (the gate's sample)" : ""));
    }
    if (candidate.gate() != null) {
      h.append(", quality gate ").append(candidate.gate().status());
    }
    if (pairing != null && !pairing.warnings().isEmpty()) {
      h.append(" (").append(pairing.warnings().size()).append(pairing.warnings().size() == 1 ? " warning" : " warnings")
          .append(" below)");
    }
    return h.toString();
  }

  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    EnergySummary e = candidate.energy();
    m.put("claim", baseline == null ? (refused(candidate)
        ? "energy of one run, refused by the quality gate: nothing published; no baseline, no saving claimed"
        : "energy of one run; no baseline in this run, no saving claimed")
        : candidate.kernel() + " vs " + baseline.kernel() + " on the same rows: " + pairingWords());
    if (baseline != null) {
      m.put("headline", headline());
      m.put("pairing", pairingWords());
      m.put("warnings", pairing == null ? List.of() : pairing.warnings());
    }
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
      ratio.put("thread_cpu_per_row", ratioPerRow(e.threadCpuNanos(), e, b.threadCpuNanos(), b));
      ratio.put("estimated_cputime_kernel_only_per_row", ratioPerRow(e.kernelEstimatedJ(), e, b.kernelEstimatedJ(), b));
      ratio.put("modelled_ops_bytes_per_row", ratioPerRow(e.modelledJ(), e, b.modelledJ(), b));
      if (e.measuredLike(b)) {
        ratio.put("measured_per_row", ratioPerRow(e.measuredJ(), e, b.measuredJ(), b));
      }
      ratio.put("meaning", (e.measuredLike(b)
          ? "measured_per_row is a ratio of measured energy (counter readings shared among concurrent "
          + "partitions or batches, with the unattributed rest); " : noMeasuredRatio(e, b) + "; ")
          + cpuTimeSentence(e, b).replace("\n", " ") + "; modelled "
          + "ratios come from counted ops and bytes (Horowitz 45 nm constants, relative only)");
      m.put("ratio_candidate_over_baseline", ratio);
      m.put("order", order);
    }
    if (quality != null) {
      Map<String, Object> q = new LinkedHashMap<>();
      q.put("baseline", quality.baselineKernel());
      q.put("candidate", quality.candidateKernel());
      q.put("rows_compared", quality.rowsCompared());
      q.put("top1_agreement", quality.top1Agreement());
      q.put("max_abs_prob_error", quality.maxAbsProbError());
      q.put("mean_abs_prob_error", quality.meanAbsProbError());
      q.put("basis", quality.basis());
      m.put("quality", q);
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
        : candidate.kernel() + " vs baseline " + baseline.kernel() + ": same rows, " + pairingWords());
    if (baseline != null) {
      line(s, "headline", headline());
    }
    line(s, "rows", String.format(Locale.ROOT, "%,d in = %,d " + verb + " + %,d rejected", candidate.rowsIn(),
        candidate.rowsScored(), candidate.rowsRejected()));
    line(s, "workload", String.format(Locale.ROOT, "dim %d, %d outputs per row, batch %,d rows, %d partitions, kernels on %s",
        candidate.dim(), candidate.outputs(), e.batchRows(), e.partitions(), e.vectorOps()));
    line(s, "hardware", String.format(Locale.ROOT, "%s, %d vCPU, %.0f GiB memory, hypervisor %s, RAPL %s, GPU %s",
        e.cpuModel(), e.vcpus(), e.ramBytes() / 1073741824.0, yesNo(e.hypervisor()), yesNo(e.raplAvailable()),
        e.gpu().startsWith("none found") ? "none found (no NVML)" : e.gpu()));
    line(s, "power band", String.format(Locale.ROOT, "profile %s%s: %.2f / %.2f / %.2f W per busy vCPU (low/typical/high), "
        + "plus %.2f W of DRAM background per busy vCPU (%.3f W/GB x %.1f GB per vCPU); assumptions, not "
        + "measurements", p.name(), p.generic() ? " (GENERIC fallback)" : "",
        p.cpuWattsLow(), p.cpuWattsTypical(), p.cpuWattsHigh(),
        dev.joule.bridge.energy.CpuTimeEstimator.backgroundWattsPerBusyVcpu(e.hardware(), p), p.dramWattsPerGb(),
        dev.joule.bridge.energy.CpuTimeEstimator.memoryGbPerVcpu(e.hardware())));
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
    row(s, "  of which cpu", cols, r -> j(r.energy().per1k(r.energy().estimatedParts().cpuJ())));
    row(s, "  of which dram background", cols, r -> j(r.energy().per1k(r.energy().estimatedParts().dramBackgroundJ())));
    row(s, "  of which dram traffic", cols, r -> j(r.energy().per1k(r.energy().estimatedParts().dramTrafficJ())));
    row(s, "estimated_cputime, kernel calls only", cols, r -> j(r.energy().per1k(r.energy().kernelEstimatedJ())));
    if (cols.stream().anyMatch(r -> r.energy().measured())) {
      row(s, "measured (RAPL/NVML), shares + rest", cols, r -> !r.energy().measured() ? "not measured"
          : j(r.energy().per1k(r.energy().measuredJ())) + (r.energy().whollyMeasured() ? ""
          : " (" + r.energy().unmeasuredPartitions() + " of " + r.energy().partitions() + " partitions not measured)"));
      java.util.Set<String> parts = new java.util.TreeSet<>();
      cols.forEach(r -> parts.addAll(r.energy().measuredParts().keySet()));
      for (String part : parts) {
        row(s, "  of which " + measuredPartWords(part), cols, r -> r.energy().measuredParts().containsKey(part)
            ? j(r.energy().per1k(r.energy().measuredParts().get(part))) : "not measured");
      }
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
      s.append(String.format(Locale.ROOT, "    %-42s %.3f%n", "thread CPU time only (measured)",
          ratioPerRow(e.threadCpuNanos(), e, b.threadCpuNanos(), b)));
      s.append(String.format(Locale.ROOT, "    %-42s %.3f%n", "kernel calls only (estimated_cputime)",
          ratioPerRow(e.kernelEstimatedJ(), e, b.kernelEstimatedJ(), b)));
      s.append(String.format(Locale.ROOT, "    %-42s %.3f%n", "modelled_ops_bytes",
          ratioPerRow(e.modelledJ(), e, b.modelledJ(), b)));
      if (e.measuredLike(b)) {
        s.append(String.format(Locale.ROOT, "    %-42s %.3f%n", "measured (RAPL/NVML, shares + rest)",
            ratioPerRow(e.measuredJ(), e, b.measuredJ(), b)));
      }
      s.append(e.measuredLike(b) ? "" : "    " + noMeasuredRatio(e, b) + ".\n");
      s.append("    ").append(cpuTimeSentence(e, b).replace("\n", "\n    ")).append('\n');
      s.append("    the modelled ratio counts ops and bytes, not joules drawn.\n");
      line(s, "order", order);
      if (pairing != null) {
        for (String w : pairing.warnings()) {
          line(s, "WARNING", w);
        }
      }
    }
    if (quality != null) {
      s.append('\n');
      line(s, "quality", String.format(Locale.ROOT, "%s vs %s on %,d rows: top-1 agreement %.3f %%", quality.candidateKernel(),
          quality.baselineKernel(), quality.rowsCompared(), 100 * quality.top1Agreement())
          + (Double.isNaN(quality.maxAbsProbError()) ? "" : String.format(Locale.ROOT, ", max |dp| %.5f, mean |dp| %.6f",
              quality.maxAbsProbError(), quality.meanAbsProbError()))
          + (Quality.GATE_SAMPLE.equals(quality.basis()) ? " (" + quality.basis() + ")" : ""));
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
    s.append("  estimated_cputime  = thread CPU s x (W per busy vCPU + its DRAM background share) + bytes moved x DRAM pJ/B\n");
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

  /** A ratio as "0.49×", or "n/a" where a run had nothing to divide (no row, no joule). */
  private static String times(double ratio) {
    return Double.isNaN(ratio) || Double.isInfinite(ratio) ? "n/a" : String.format(Locale.ROOT, "%.2f\u00d7", ratio);
  }

  private String pairingWords() {
    return pairing == null ? "how the two runs were paired was not recorded" : pairing.words();
  }

  /**
   * Whether the estimated ratio is the CPU-time ratio, said with the figures: the cpu and DRAM
   * background parts follow CPU time, the traffic part follows bytes.
   */
  private static String cpuTimeSentence(EnergySummary e, EnergySummary b) {
    double traffic = Math.max(share(e), share(b));
    return String.format(Locale.ROOT, "the estimated ratio is the thread-CPU-time ratio up to the DRAM traffic term,\n"
        + "which is %.2f %% of the larger estimate here%s", 100 * traffic,
        e.profile().equals(b.profile()) && e.hardware().equals(b.hardware())
            ? " (same power profile and machine: the band and the DRAM background cancel)"
            : " (DIFFERENT power profiles or machines: the band and the DRAM background do not cancel)");
  }

  private static double share(EnergySummary x) {
    return x.estimatedJ() <= 0 ? 0 : x.estimatedParts().dramTrafficJ() / x.estimatedJ();
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

  /** Why a pair of runs gets no measured ratio. */
  static String noMeasuredRatio(EnergySummary candidate, EnergySummary baseline) {
    if (!candidate.measured() || !baseline.measured()) {
      return "no RAPL/NVML in both runs, so no measured ratio";
    }
    if (!candidate.whollyMeasured() || !baseline.whollyMeasured()) {
      return "some partitions were not measured, so no measured ratio";
    }
    return "measured on different devices (candidate: " + String.join(", ", candidate.measuredParts().keySet())
        + " on " + candidate.vectorOps() + "; baseline: " + String.join(", ", baseline.measuredParts().keySet())
        + " on " + baseline.vectorOps() + "), so no measured ratio";
  }

  /** {@code measured_nvml gpu_idle} → words for the card. */
  static String measuredPartWords(String part) {
    String[] mc = part.split(" ", 2);
    String component = mc.length > 1 ? mc[1] : part;
    String device = mc[0].equals("measured_nvml") ? "NVML " : mc[0].equals("measured_rapl") ? "RAPL " : mc[0] + " ";
    if (component.endsWith("_idle")) {
      return device + component.substring(0, component.length() - 5) + ", idle draw";
    }
    return device + component;
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
    m.put("estimated_cputime_parts_joules_per_1k_rows", Map.of("cpu", e.per1k(e.estimatedParts().cpuJ()),
        "dram_background", e.per1k(e.estimatedParts().dramBackgroundJ()),
        "dram_traffic", e.per1k(e.estimatedParts().dramTrafficJ())));
    m.put("fixed_estimated_cputime_joules", Map.of("typical", e.fixedEstimatedJ(),
        "low", e.fixedEstimatedLowJ(), "high", e.fixedEstimatedHighJ()));
    if (e.measured()) {
      Map<String, Object> measured = new LinkedHashMap<>();
      measured.put("total", e.per1k(e.measuredJ()));
      e.measuredParts().forEach((part, j) -> measured.put(part, e.per1k(j)));
      m.put("measured_joules_per_1k_rows", measured);
    }
    m.put("fixed_cpu_seconds", e.fixedCpuNanos() / 1e9);
    m.put("jvm_runs_before", e.jvmRunsBefore());
    m.put("load_avg_1m", e.loadAvg1m());
    m.put("bytes_written", e.bytesWritten());
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
        case "estimated_cputime" -> "cpu: thread CPU seconds x assumed W per busy vCPU (low/typical/high); "
            + "dram_background: thread CPU seconds x the machine's installed GB per vCPU x DRAM W/GB (not the heap, "
            + "not wall time); dram_traffic: bytes read, sent and written x DRAM energy per byte (Horowitz band)";
        case "modelled_ops_bytes" -> "counted MACs, quantized values, DRAM and SRAM bytes x per-op/per-byte energies, Horowitz ISSCC 2014 (45 nm); relative only";
        case "measured_rapl" -> "RAPL package and DRAM counters read at each partition's start and end, shared among "
            + "concurrent partitions by thread CPU time (cpu_time_share); the rest (other threads, the socket) is "
            + "recorded as unattributed and included in totals";
        case "measured_nvml" -> "the accelerator node's NVML GPU total-energy counter, read around each batch and "
            + "shared among the batches on the GPU by rows (rows_share); the GPU's idle draw, measured at the node's "
            + "start, recorded apart (gpu_idle) from the energy above it (gpu); what the GPU used while no batch had "
            + "arrived is recorded as unattributed and included in totals";
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
    if (a >= 1e6) {
      return String.format(Locale.ROOT, "%.3g MJ", joules / 1e6);
    }
    if (a >= 1e3) {
      return String.format(Locale.ROOT, "%.3g kJ", joules / 1e3);
    }
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
