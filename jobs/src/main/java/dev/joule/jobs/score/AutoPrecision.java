package dev.joule.jobs.score;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.OpsBytesModel;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.model.ReferenceSet;
import dev.joule.udfs.GateSample;
import dev.joule.udfs.KernelInfo;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code --precision auto}: before the run, the kernels a model can become are ordered by their
 * modelled energy per row (ops/bytes model: MACs at their precision, bytes read and sent,
 * parameter bytes) and measured, cheapest first, on the quality gate's sample of the input
 * against fp32; the first whose agreement (recall@k for top-k) meets {@code
 * quality.target-agreement} ({@code quality.target-recall}) is the one the run uses. Top-k
 * candidates include int8 rescoring at each {@code topk.auto-oversample}. None meets it: fp32.
 * The run's quality gate then checks the published answers as for any precision, against the
 * higher of the target and the gate's own bar.
 */
public final class AutoPrecision {

  private static final Logger LOG = LoggerFactory.getLogger(AutoPrecision.class);

  private AutoPrecision() {}

  /** One candidate kernel measured on the sample. */
  public record Trial(String kernel, String precision, double value, double modelledPicojoulesPerRow, boolean meets) {}

  /**
   * What auto measured and chose: the trials in the order they were measured (cheapest first;
   * measuring stops at the first that meets the target), and the kernel chosen.
   */
  public record Choice(String metric, double target, long rowsCompared, List<Trial> trials, String chosen) {

    public String describe() {
      if (rowsCompared == 0) {
        return "auto chose " + chosen + ": no sampled row to compare the kernels on";
      }
      StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
          "auto chose %s (target %s >= %.4f on %,d sampled rows, cheapest modelled first:", chosen, metric, target,
          rowsCompared));
      for (int i = 0; i < trials.size(); i++) {
        Trial t = trials.get(i);
        s.append(i == 0 ? " " : ", ").append(String.format(Locale.ROOT, "%s %.4f (%.3g uJ/row modelled)",
            t.kernel(), t.value(), t.modelledPicojoulesPerRow() / 1e6));
      }
      return s.append(trials.isEmpty() ? " no quantized kernel" : "").append(')').toString();
    }

    public Map<String, Object> toMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("metric", metric);
      m.put("target", target);
      m.put("rows_compared", rowsCompared);
      m.put("chosen", chosen);
      List<Map<String, Object>> ts = new ArrayList<>();
      for (Trial t : trials) {
        Map<String, Object> x = new LinkedHashMap<>();
        x.put("kernel", t.kernel());
        x.put("precision", t.precision());
        x.put("value", t.value());
        x.put("modelled_ops_bytes_pj_per_row", t.modelledPicojoulesPerRow());
        x.put("meets_target", t.meets());
        ts.add(x);
      }
      m.put("trials", ts);
      return m;
    }

    static Choice fromJson(com.fasterxml.jackson.databind.JsonNode a) {
      if (a == null || a.isMissingNode() || a.isNull()) {
        return null;
      }
      List<Trial> ts = new ArrayList<>();
      for (com.fasterxml.jackson.databind.JsonNode t : a.path("trials")) {
        ts.add(new Trial(t.path("kernel").asText(), t.path("precision").asText(), t.path("value").asDouble(),
            t.path("modelled_ops_bytes_pj_per_row").asDouble(), t.path("meets_target").asBoolean()));
      }
      return new Choice(a.path("metric").asText(), a.path("target").asDouble(), a.path("rows_compared").asLong(),
          List.copyOf(ts), a.path("chosen").asText());
    }
  }

  /** The prepared kernel a run uses, and how it was chosen. */
  public record Chosen(Scoring.Prepared prepared, Choice choice) {}

  /** A kernel auto may choose, with what the executor needs to encode rows for it. */
  record Candidate(Kernel kernel, KernelInfo info) {}

  /**
   * A candidate before it is built: its modelled energy per row and precision (to order it), and
   * how to build it. Candidates are built again one at a time to be measured, so that no more than
   * one quantized copy of a large reference set is held at once.
   */
  record Option(double modelledPicojoulesPerRow, Precision precision, java.util.function.Supplier<Candidate> build) {}

  /**
   * The run's gate settings: its bar raised to the target. {@link #target} is never below the
   * bar, so a kernel auto chose is gated at the level it was chosen for.
   */
  static JouleConfig gateConfig(JouleConfig config, Choice choice) {
    boolean recall = choice.metric().startsWith("recall");
    QualityGate.Settings s = QualityGate.Settings.from(config);
    double bar = recall ? s.minRecall() : s.minAgreement();
    return choice.target() <= bar ? config
        : config.with(recall ? "quality.min-recall" : "quality.min-agreement", Double.toString(choice.target()));
  }

  /**
   * What auto must reach: {@code quality.target-*}, and never less than the gate's bar (a kernel
   * chosen below the bar would be refused by the run's own gate); empty: the bar.
   */
  static double target(JouleConfig config, boolean neighbors) {
    String key = neighbors ? "quality.target-recall" : "quality.target-agreement";
    QualityGate.Settings s = QualityGate.Settings.from(config);
    double bar = neighbors ? s.minRecall() : s.minAgreement();
    String v = config.string(key).trim();
    if (v.isEmpty()) {
      return bar;
    }
    double t;
    try {
      t = Double.parseDouble(v);
    } catch (NumberFormatException e) {
      throw JouleException.usage("joule." + key + " must be a number in [0, 1] or \"\", got '" + v + "'");
    }
    if (!(t >= 0 && t <= 1)) {
      throw JouleException.usage("joule." + key + " must be in [0, 1], got " + t);
    }
    if (t < bar) {
      LOG.warn("joule.{} = {} is below the quality gate's bar {}: auto aims at the bar", key, t, bar);
    }
    return Math.max(t, bar);
  }

  /**
   * Chooses the kernel for a run on {@code pinned} (an embeddings table: a codes table holds one
   * precision, so there is nothing to choose), measuring on the rows the run's quality gate will
   * compare: the {@code sampleRowsFor} of them with the smallest id hashes ({@link GateSample}),
   * less the rows of duplicated ids, which the run rejects.
   *
   * @param exact the run prepared at fp32 (its columns, passthrough and dimension scales)
   * @param rowsIn the input's rows, as counted for the run
   * @param duplicates the ids the run rejects as duplicated
   */
  public static Chosen choose(JouleConfig config, DeltaIO.Pinned pinned, Scoring.Prepared exact, long rowsIn,
      dev.joule.udfs.DuplicateIds duplicates) {
    requireEmbeddings(pinned);
    QualityGate.Settings gate = QualityGate.Settings.from(config);
    int n = gate.sampleRowsFor(exact.kernel());
    if (n == 0) {
      throw JouleException.usage("--precision auto measures the quality gate's sample: joule.quality.sample-rows "
          + "(and topk-sample-rows for top-k) must be > 0");
    }
    double target = target(config, exact.kernel().neighbors());
    String metric = exact.kernel().neighbors() ? "recall@" + exact.kernel().width() : "top1_agreement";
    dev.joule.jobs.console.ConsoleProgress.phase("auto precision");
    List<float[]> rows = sample(exact, pinned, GateSample.of(rowsIn, n, Scoring.SAMPLE_MARGIN), n, duplicates);
    if (rows.isEmpty()) {
      Choice none = new Choice(metric, target, 0, List.of(), exact.kernel().displayName());
      LOG.warn("auto precision: no sampled row to compare, so nothing to choose by: fp32");
      return new Chosen(exact, none);
    }
    List<String> passthrough = exact.passthrough().stream().map(Scoring.Passthrough::spec).toList();
    var scales = Scoring.rowScales(pinned, exact.kernel().dim()); // read once for every candidate
    OpsBytesModel energy = config.energySpec(1).opsBytes();
    // Each candidate built once to be costed and dropped; built again only when measured. The
    // last one built is the chosen one, as measuring stops there.
    Scoring.Prepared[] lastBuilt = new Scoring.Prepared[1];
    List<Option> options = new ArrayList<>();
    java.util.Set<String> kernelIds = new java.util.HashSet<>();
    for (Precision p : List.of(Precision.BINARY, Precision.INT4, Precision.INT8)) {
      for (ModelSpec variant : variants(config, exact.model(), p)) {
        java.util.function.Supplier<Scoring.Prepared> prepare =
            () -> Scoring.prepare(config, pinned, variant, p, passthrough, scales);
        Scoring.Prepared c;
        try {
          c = prepare.get();
        } catch (JouleException e) {
          LOG.info("auto precision: {} at {} is not a candidate: {}", variant.modelId(), p.label(), e.getMessage());
          continue;
        }
        if (kernelIds.add(c.info().id())) {
          options.add(new Option(modelledPicojoulesPerRow(c.info(), energy), p, () -> {
            lastBuilt[0] = prepare.get();
            return new Candidate(lastBuilt[0].kernel(), lastBuilt[0].info());
          }));
        }
      }
    }
    Measured m = measure(exact.kernel(), options, rows, target, VectorOpsProvider.get());
    LOG.info("auto precision: {}", m.choice().describe());
    return new Chosen(m.chosen() < 0 ? exact : lastBuilt[0], m.choice());
  }

  /** Auto needs fp32 rows: a codes table holds one precision, so there is nothing to choose. */
  static void requireEmbeddings(DeltaIO.Pinned pinned) {
    if (java.util.Arrays.asList(pinned.data().schema().fieldNames()).containsAll(Scoring.CODES_COLUMNS)) {
      throw JouleException.usage("--precision auto chooses among the precisions of an embeddings table; "
          + pinned.path() + " is a codes table, which holds one precision (score it without --precision)");
    }
  }

  /** The fp32 rows of the {@code n} sampled ids with the smallest hashes, in hash order (as the gate takes them). */
  private static List<float[]> sample(Scoring.Prepared exact, DeltaIO.Pinned pinned, GateSample sample, int n,
      dev.joule.udfs.DuplicateIds duplicates) {
    int dim = exact.kernel().dim();
    List<Row> kept = exact.select(pinned.data()).select("id", "embedding")
        .filter((org.apache.spark.api.java.function.FilterFunction<Row>) r -> sample.includes(r.get(0))
            && duplicates.reason(r.get(0)) == null)
        .collectAsList();
    List<Row> sorted = new ArrayList<>(kept);
    sorted.sort((a, b) -> Long.compareUnsigned(GateSample.hash(a.get(0)), GateSample.hash(b.get(0))));
    List<float[]> rows = new ArrayList<>(n);
    for (Row r : sorted) {
      float[] v = QualityGate.floats(r.get(1), dim);
      if (v != null && rows.size() < n) { // rows the run will reject are not compared
        rows.add(v);
      }
    }
    return rows;
  }

  /**
   * The models to try at {@code p}: the model itself; for top-k, the reference set without
   * rescoring and, below int8, rescored at int8 at each {@code topk.auto-oversample}.
   */
  private static List<ModelSpec> variants(JouleConfig config, ModelSpec model, Precision p) {
    if (!(model instanceof ReferenceSet refs)) {
      return List.of(model);
    }
    List<ModelSpec> out = new ArrayList<>(List.of(refs.withRescoring(1, "none")));
    if (p != Precision.INT8) {
      for (int oversample : autoOversample(config)) {
        out.add(refs.withRescoring(oversample, "int8"));
      }
    }
    return out;
  }

  /** {@code topk.auto-oversample}: whole numbers >= 1. */
  static List<Integer> autoOversample(JouleConfig config) {
    List<?> values;
    try {
      values = config.raw().getList("joule.topk.auto-oversample").unwrapped();
    } catch (com.typesafe.config.ConfigException e) {
      throw JouleException.usage("joule.topk.auto-oversample must be a list such as [2, 4, 10]: " + e.getMessage());
    }
    List<Integer> out = new ArrayList<>();
    for (Object o : values) {
      if (!(o instanceof Number x) || x.doubleValue() != Math.rint(x.doubleValue()) || x.doubleValue() < 1) {
        throw JouleException.usage("joule.topk.auto-oversample must list whole numbers >= 1, got " + o);
      }
      out.add(x.intValue());
    }
    return out;
  }

  /** What {@link #measure} found: the choice, and the index of the chosen candidate (-1: fp32). */
  record Measured(Choice choice, int chosen) {}

  /**
   * Orders the options by modelled energy per row (a tie goes to the higher precision), then
   * builds and measures them on {@code rows} against {@code exact}, cheapest first, until one
   * meets the target; {@code chosen} is its index in {@code options}.
   */
  static Measured measure(Kernel exact, List<Option> options, List<float[]> rows, double target, VectorOps ops) {
    int dim = exact.dim();
    Integer[] order = new Integer[options.size()];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    java.util.Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> options.get(i).modelledPicojoulesPerRow())
        .thenComparing(i -> options.get(i).precision().ordinal()));
    // The exact answers once: labels, or the exact outputs (recall needs their scores).
    int n = rows.size();
    int w = exact.width();
    float[] values = new float[n * dim];
    for (int i = 0; i < n; i++) {
      System.arraycopy(rows.get(i), 0, values, i * dim, dim);
    }
    EncodedRows at32 = EncodedRows.fp32(n, dim, values);
    KernelOutput exactOut = exact.newOutput();
    exact.score(at32, exactOut.reset(n), ops);
    String metric = exact.neighbors() ? "recall@" + w : "top1_agreement";
    List<Trial> trials = new ArrayList<>();
    for (int i : order) {
      Candidate c = options.get(i).build().get();
      KernelOutput out = c.kernel().newOutput();
      c.kernel().score(c.info().encodeFloats(n, values), out.reset(n), ops);
      double sum = 0;
      for (int r = 0; r < n; r++) {
        if (exact.neighbors()) {
          List<String> ids = new ArrayList<>(w);
          for (int j = 0; j < w; j++) {
            ids.add(c.kernel().labels().get(out.indices()[r * w + j]));
          }
          sum += QualityGate.recallOfIds(exact, exactOut, at32, r, ids);
        } else { // by label, as the gate compares
          sum += QualityGate.agreement(c.kernel(), out, r,
              exact.labels().get(BridgeBatches.argmax(exactOut.scores(), r * w, w)));
        }
      }
      double value = n == 0 ? Double.NaN : sum / n;
      boolean meets = n > 0 && value >= target;
      trials.add(new Trial(c.kernel().displayName(), c.kernel().precision().label(), value,
          options.get(i).modelledPicojoulesPerRow(), meets));
      if (meets) {
        return new Measured(new Choice(metric, target, n, List.copyOf(trials), c.kernel().displayName()), i);
      }
    }
    return new Measured(new Choice(metric, target, n, List.copyOf(trials), exact.displayName()), -1);
  }

  /**
   * The ops/bytes model's energy for one row read from an embeddings table: its fp32 values
   * read, quantized and sent at the kernel's encoding, and the kernel's work (midpoints of the
   * model's bands, in picojoules; only the order matters).
   */
  static double modelledPicojoulesPerRow(KernelInfo info, OpsBytesModel energy) {
    double j = 0;
    for (EnergyFigure f : energy.model(info.work(1, true, 4L * info.dim(), info.sentBytesPerRow()))) {
      j += f.joules();
    }
    return j * 1e12;
  }
}
