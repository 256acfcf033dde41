package dev.joule.jobs.score;

import static org.apache.spark.sql.functions.broadcast;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.xxhash64;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.vector.VectorOpsProvider;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.udfs.StagedRows;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The quality gate: before a quantized run commits, the answers it is about to publish are
 * compared with the fp32 kernel's on a deterministic sample of its input rows (top-1 agreement
 * for class and centroid kernels, recall@k for top-k). Below {@code quality.min-agreement}
 * ({@code quality.min-recall} for top-k) the
 * run either fails (exit code 4, nothing written) or, with {@code on-fail = fallback}, is scored
 * again one precision up (binary → int4 → int8 → fp32) and says so in its run record and claim
 * card. The fp32 reference is computed on the driver: the sample is small, and the published
 * side is what the executors (or nodes) actually answered.
 */
public final class QualityGate {

  private static final Logger LOG = LoggerFactory.getLogger(QualityGate.class);

  /** What to do when a precision misses the bar. */
  public enum OnFail {
    FAIL, FALLBACK;

    static OnFail parse(String s) {
      return switch (s.trim().toLowerCase(Locale.ROOT)) {
        case "fail" -> FAIL;
        case "fallback" -> FALLBACK;
        default -> throw JouleException.usage("joule.quality.on-fail must be fail or fallback, got '" + s + "'");
      };
    }
  }

  /** {@code joule.quality}; {@code sampleRows = 0} turns the gate off (recorded as such). */
  public record Settings(double minAgreement, double minRecall, int sampleRows, int topkSampleRows, OnFail onFail,
      String referenceInput) {

    public static Settings from(JouleConfig c) {
      double min = fraction(c, "quality.min-agreement");
      double minRecall = fraction(c, "quality.min-recall");
      int n = c.integer("quality.sample-rows");
      if (n < 0) {
        throw JouleException.usage("joule.quality.sample-rows must be >= 0, got " + n);
      }
      int topk = c.integer("quality.topk-sample-rows");
      if (topk < 0) {
        throw JouleException.usage("joule.quality.topk-sample-rows must be >= 0, got " + topk);
      }
      return new Settings(min, minRecall, n, topk, OnFail.parse(c.string("quality.on-fail")),
          c.string("quality.reference-input"));
    }

    /** Rows the gate compares for this kernel: fewer for top-k, whose exact answer reads the whole reference set per row. */
    public int sampleRowsFor(Kernel k) {
      return k.neighbors() ? Math.min(sampleRows, topkSampleRows) : sampleRows;
    }

    private static double fraction(JouleConfig c, String key) {
      double v;
      try {
        v = Double.parseDouble(c.string(key));
      } catch (NumberFormatException e) {
        throw JouleException.usage("joule." + key + " must be a number in [0, 1], got '" + c.string(key) + "'");
      }
      if (!(v >= 0 && v <= 1)) {
        throw JouleException.usage("joule." + key + " must be in [0, 1], got " + v);
      }
      return v;
    }
  }

  /**
   * One precision's comparison with fp32.
   *
   * @param metric top1_agreement or recall@k
   * @param estimatedJoules the attempt's own partition energy (estimated_cputime), so that a
   *     discarded attempt's cost is on record: it is not in the energy_log, which holds the
   *     published attempt's partitions only
   */
  public record Check(String kernel, String precision, String metric, long rows, double value, double bar,
      boolean passed, double estimatedJoules) {
    String describe() {
      return String.format(Locale.ROOT, "%s %s %.4f vs fp32 on %,d sampled rows (%s %.4f)", kernel, metric, value,
          rows, passed ? ">=" : "<", bar);
    }
  }

  /**
   * What the gate decided. {@code status}: passed, fell_back (published a higher precision than
   * asked), failed, not_needed (fp32 is the reference), off (sample-rows = 0), not_checked (no
   * fp32 rows to compare with: a codes table with no known source).
   */
  public record Outcome(String status, String askedPrecision, String publishedPrecision, double bar,
      List<Check> checks, String note, AutoPrecision.Choice auto) {

    public Outcome(String status, String askedPrecision, String publishedPrecision, double bar, List<Check> checks,
        String note) {
      this(status, askedPrecision, publishedPrecision, bar, checks, note, null);
    }

    /** This outcome of a run whose precision {@code --precision auto} chose. */
    public Outcome withAuto(AutoPrecision.Choice choice) {
      return new Outcome(status, askedPrecision, publishedPrecision, bar, checks, note, choice);
    }

    public boolean fellBack() {
      return status.equals("fell_back");
    }

    /** One line for the runs table, logs and the claim card's text. */
    public String describe() {
      StringBuilder s = new StringBuilder(status);
      if (!checks.isEmpty()) {
        s.append(": ");
        for (int i = 0; i < checks.size(); i++) {
          s.append(i == 0 ? "" : "; then ").append(checks.get(i).describe());
        }
      }
      if (fellBack()) {
        s.append("; published ").append(publishedPrecision).append(" instead of ").append(askedPrecision);
      }
      if (note != null) {
        s.append(checks.isEmpty() ? ": " : " (").append(note).append(checks.isEmpty() ? "" : ")");
      }
      if (auto != null) {
        s.append("; ").append(auto.describe());
      }
      return s.toString();
    }

    public Map<String, Object> toMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("status", status);
      m.put("asked_precision", askedPrecision);
      m.put("published_precision", publishedPrecision);
      m.put("bar", bar);
      List<Map<String, Object>> cs = new ArrayList<>();
      for (Check c : checks) {
        Map<String, Object> x = new LinkedHashMap<>();
        x.put("kernel", c.kernel());
        x.put("precision", c.precision());
        x.put("metric", c.metric());
        x.put("value", c.value());
        x.put("bar", c.bar());
        x.put("rows_compared", c.rows());
        x.put("passed", c.passed());
        x.put("attempt_estimated_cputime_joules", c.estimatedJoules());
        cs.add(x);
      }
      m.put("checks", cs);
      if (note != null) {
        m.put("note", note);
      }
      if (auto != null) {
        m.put("auto", auto.toMap());
      }
      return m;
    }

    /** An outcome read back from a claim card's {@code quality_gate} JSON (runs table), or null. */
    public static Outcome fromJson(com.fasterxml.jackson.databind.JsonNode g) {
      if (g == null || g.isMissingNode() || g.isNull()) {
        return null;
      }
      List<Check> checks = new ArrayList<>();
      for (com.fasterxml.jackson.databind.JsonNode c : g.path("checks")) {
        checks.add(new Check(c.path("kernel").asText(), c.path("precision").asText(), c.path("metric").asText(),
            c.path("rows_compared").asLong(), c.path("value").isNumber() ? c.path("value").asDouble() : Double.NaN,
            c.path("bar").asDouble(),
            c.path("passed").asBoolean(), c.path("attempt_estimated_cputime_joules").asDouble()));
      }
      return new Outcome(g.path("status").asText(), g.path("asked_precision").asText(),
          g.path("published_precision").asText(), g.path("bar").asDouble(), List.copyOf(checks),
          g.hasNonNull("note") ? g.path("note").asText() : null, AutoPrecision.Choice.fromJson(g.path("auto")));
    }

    public static Outcome without(String status, Precision p, double min, String note) {
      return new Outcome(status, p.label(), p.label(), min, List.of(), note);
    }
  }

  private QualityGate() {}

  /**
   * The gate refused a run (exit code 4): nothing of it may be published. It carries the refused
   * attempt (its kernel, counts and partition energy, whose staging is already deleted) so that
   * the job can still account for it: print its claim card and record it in the runs table as
   * {@code refused}. {@link #result()} is that run's result once the job has built it (null from
   * jobs that do not).
   */
  public static final class Refused extends JouleException {
    private final transient Outcome outcome;
    private final transient Scoring.Prepared prep;
    private final transient Scoring.Staged staged;
    private final transient ScoreResult result;
    private final boolean recorded;

    Refused(String message, Outcome outcome, Scoring.Prepared prep, Scoring.Staged staged) {
      this(message, outcome, prep, staged, null, false);
    }

    private Refused(String message, Outcome outcome, Scoring.Prepared prep, Scoring.Staged staged,
        ScoreResult result, boolean recorded) {
      super(JouleException.QUALITY, message);
      this.outcome = outcome;
      this.prep = prep;
      this.staged = staged;
      this.result = result;
      this.recorded = recorded;
    }

    public Outcome outcome() {
      return outcome;
    }

    public Scoring.Prepared prep() {
      return prep;
    }

    public Scoring.Staged staged() {
      return staged;
    }

    /** The refused run as the job accounted for it; null if it did not. */
    public ScoreResult result() {
      return result;
    }

    /** Whether the refused run's row is in the runs table. */
    public boolean recorded() {
      return recorded;
    }

    /** This refusal of a run whose precision {@code --precision auto} chose. */
    public Refused withAuto(AutoPrecision.Choice choice) {
      Refused e = new Refused(getMessage(), outcome.withAuto(choice), prep, staged, result, recorded);
      e.setStackTrace(getStackTrace());
      return e;
    }

    public Refused withResult(ScoreResult r, boolean recorded) {
      Refused e = new Refused(getMessage(), outcome, prep, staged, r, recorded);
      e.setStackTrace(getStackTrace());
      return e;
    }
  }

  /** The attempt a run publishes: its prepared kernel, its scored rows and where they are, and the gate's word. */
  public record Gated(Scoring.Prepared prep, Scoring.Staged staged, Scoring.Sink sink, Outcome outcome) {}

  /**
   * Scores {@code inputOf(prep)} at {@code asked} and gates it; with {@code on-fail = fallback}
   * scores again one precision up until a precision passes (fp32 always does). A discarded
   * attempt's rows are deleted at once; its CPU time stays in the process and so in the run's
   * fixed cost. The caller discards the returned sink's uncommitted rows.
   *
   * @param asAsked the input prepared at the precision asked for (the caller has it already)
   * @param tableRows the rows of the whole pinned table, as the caller counted them (equal to
   *     {@code rowsIn} when the run scores the whole table)
   * @param sinkOf where an attempt's rows go, given its prepared kernel and an attempt suffix
   *     ("" for the precision asked, "-int8" and so on for a fallback)
   * @throws JouleException with exit code 4 when the gate fails and nothing may be published
   */
  public static Gated stage(org.apache.spark.sql.SparkSession spark, JouleConfig config,
      dev.joule.jobs.delta.DeltaIO.Pinned pinned, Scoring.Prepared asAsked,
      java.util.function.Function<Scoring.Prepared, Dataset<Row>> inputOf, long rowsIn, long tableRows, String runId,
      String job, java.util.function.BiFunction<Scoring.Prepared, String, Scoring.Sink> sinkOf) {
    Settings s = Settings.from(config);
    return attempts(s, asAsked, runId, p -> Scoring.prepare(config, pinned, asAsked.model(), p,
            asAsked.passthrough().stream().map(Scoring.Passthrough::spec).toList()), sinkOf,
        sink -> Scoring.discard(spark, sink, java.util.Set.of()), (prep, sink, checks) -> {
          Dataset<Row> in = inputOf.apply(prep);
          Scoring.Staged st = Scoring.stage(spark, config, prep, in, rowsIn, runId, job, sink);
          return new Decided(st, decide(spark, config, s, pinned, prep, in, st, tableRows, asAsked.kernel().precision(),
              prep.kernel().precision(), checks));
        });
  }

  /**
   * As {@link #stage}, for rows scored on the driver ({@link Scoring#stageOnDriver}): each attempt
   * keeps its sample's fp32 rows as it reads them, so the gate compares them with no second read.
   *
   * @param prepareAt the input prepared at another precision, for a fallback
   * @param attempt scores an attempt into its sink
   * @param discard removes what a refused or failed attempt wrote
   */
  public static Gated stageOnDriver(JouleConfig config, Scoring.Prepared asAsked, String runId,
      java.util.function.Function<Precision, Scoring.Prepared> prepareAt,
      java.util.function.BiFunction<Scoring.Prepared, String, Scoring.Sink> sinkOf,
      java.util.function.BiFunction<Scoring.Prepared, Scoring.Sink, Scoring.Staged> attempt,
      java.util.function.Consumer<Scoring.Sink> discard) {
    Settings s = Settings.from(config);
    return attempts(s, asAsked, runId, prepareAt, sinkOf, discard, (prep, sink, checks) -> {
      Scoring.Staged st = attempt.apply(prep, sink);
      return new Decided(st, decide(null, config, s, null, prep, null, st, st.rowsIn(), asAsked.kernel().precision(),
          prep.kernel().precision(), checks));
    });
  }

  /** An attempt staged, and the gate's word on it (null: below the bar). */
  private record Decided(Scoring.Staged staged, Outcome outcome) {}

  /** Stages and decides one attempt; {@code checks} gathers the gate's checks over the attempts. */
  @FunctionalInterface
  private interface Attempt {
    Decided run(Scoring.Prepared prep, Scoring.Sink sink, List<Check> checks);
  }

  /**
   * The attempts of a gated run: the precision asked, then with {@code on-fail = fallback} one
   * precision up each time, until one passes or the gate refuses the run.
   */
  private static Gated attempts(Settings s, Scoring.Prepared asAsked, String runId,
      java.util.function.Function<Precision, Scoring.Prepared> prepareAt,
      java.util.function.BiFunction<Scoring.Prepared, String, Scoring.Sink> sinkOf,
      java.util.function.Consumer<Scoring.Sink> discard, Attempt attempt) {
    List<Check> checks = new ArrayList<>();
    Precision asked = asAsked.kernel().precision();
    Precision p = asked;
    while (true) {
      Scoring.Prepared prep = p == asked ? asAsked : prepareAt.apply(p).withDuplicates(asAsked.duplicates());
      Scoring.Sink sink = sinkOf.apply(prep, p == asked ? "" : "-" + p.label());
      Decided d = null;
      try { // SparkException is checked in Java terms, so no catch: a flag and finally
        d = attempt.run(prep, sink, checks);
      } finally {
        if (d == null) {
          discard.accept(sink);
        }
      }
      Scoring.Staged st = d.staged();
      Outcome done = d.outcome();
      if (done != null) {
        log(runId, done);
        return new Gated(prep, st, sink, done);
      }
      discard.accept(sink);
      Outcome failed = new Outcome("failed", asked.label(), p.label(), checks.get(checks.size() - 1).bar(),
          List.copyOf(checks), null);
      String why = "quality gate failed, nothing committed: " + failed.describe().substring("failed: ".length());
      if (prep.codes()) {
        // A codes table holds one precision only: no fallback can work, so none is suggested.
        log(runId, failed);
        throw new Refused(why + "; cannot fall back to a higher precision: the input is a " + prep.info().rowPrecision().label()
            + " codes table (score the embeddings table, or quantize it at a higher precision)", failed, prep, st);
      }
      if (s.onFail() == OnFail.FAIL) {
        log(runId, failed);
        throw new Refused(why + " (joule.quality.on-fail = fail; "
            + "quality.on-fail = fallback publishes the next higher precision instead)", failed, prep, st);
      }
      p = higher(p);
      LOG.warn("run {}: quality gate: {}; falling back to {}", runId, checks.get(checks.size() - 1).describe(),
          p.label());
    }
  }

  /** The gate's word on one staged attempt, or null when it missed the bar (its check added to {@code checks}). */
  private static Outcome decide(org.apache.spark.sql.SparkSession spark, JouleConfig config, Settings s,
      dev.joule.jobs.delta.DeltaIO.Pinned pinned, Scoring.Prepared prep, Dataset<Row> in, Scoring.Staged st,
      long tableRows, Precision asked, Precision p, List<Check> checks) {
    Outcome done = null;
    double bar = prep.kernel().neighbors() ? s.minRecall() : s.minAgreement();
    if (p == Precision.FP32 || prep.kernel().precision() == Precision.FP32) {
      done = checks.isEmpty() ? Outcome.without("not_needed", p, bar, "fp32 is the reference")
          : new Outcome("fell_back", asked.label(), p.label(), bar, List.copyOf(checks),
              "fp32 is the reference");
    } else if (s.sampleRows() == 0 || (prep.kernel().neighbors() && s.topkSampleRows() == 0)) {
      done = Outcome.without("off", p, bar, "joule.quality.sample-rows = 0: the gate is off");
    } else if (st.scored() == 0) {
      done = checks.isEmpty() ? Outcome.without("not_needed", p, bar, "no row was scored")
          : new Outcome("fell_back", asked.label(), p.label(), bar, List.copyOf(checks), "no row was scored");
    } else {
      dev.joule.jobs.console.ConsoleProgress.phase("quality gate");
      // Embedding rows: the tasks kept the sample's fp32 rows as they read them (TableFolders sink);
      // codes: the fp32 rows come from the embeddings side, the answers from the tasks.
      boolean keptRows = st.sampled() != null && !prep.codes();
      if (!keptRows && spark == null) { // (a driver run's attempts keep their sample)
        throw new IllegalStateException("a run on the driver kept no sample for the quality gate");
      }
      Reference reference = keptRows ? null
          : prep.codes() ? codesReference(spark, config, s, pinned, prep, in, st.rowsIn(), tableRows)
          : new Reference(in, null);
      if (reference == null && !keptRows) {
        done = Outcome.without("not_checked", p, bar, "the input is a codes table with no known "
            + "embeddings table; set joule.quality.reference-input to gate it");
      } else {
        Check c = keptRows ? check(s, prep, st, st.sampled())
            : reference.rows() != null ? check(s, prep, st, reference.rows()) : check(s, prep, st, reference.table());
        checks.add(c);
        if (c.passed()) {
          done = new Outcome(p == asked ? "passed" : "fell_back", asked.label(), p.label(), bar,
              List.copyOf(checks), null);
        } else if (c.rows() == 0) {
          // Rows were scored but none could be compared (a reference table that lacks them):
          // publishing them unchecked would be silent, so the run stops.
          Outcome failed = new Outcome("failed", asked.label(), p.label(), bar, List.copyOf(checks),
              "no sampled row could be compared");
          throw new Refused("quality gate could not check, nothing committed: "
              + st.scored() + " rows were scored but none of the sampled fp32 rows matches one"
              + (prep.codes() ? " (is joule.quality.reference-input the table these codes came from?)" : ""),
              failed, prep, st);
        }
      }
    }
    return done;
  }

  /**
   * The fp32 rows a run is compared with: a table Spark reads ({@code table}), or rows the
   * driver read ({@code rows}: id, embedding), the other null.
   */
  private record Reference(Dataset<Row> table, List<Row> rows) {}

  /**
   * The fp32 rows behind a codes table: {@code quality.reference-input}, else the source table
   * {@code joule quantize} recorded in the codes table's properties, at the version the codes
   * rows say they came from.
   */
  private static Reference codesReference(org.apache.spark.sql.SparkSession spark, JouleConfig config,
      Settings s, dev.joule.jobs.delta.DeltaIO.Pinned pinned, Scoring.Prepared prep, Dataset<Row> codes,
      long rowsScored, long tableRows) {
    String path = s.referenceInput();
    Long version = null;
    if (path.isEmpty()) {
      Map<String, String> props = dev.joule.jobs.delta.DeltaIO.properties(spark, pinned.path(), pinned.version());
      path = props.getOrDefault(SOURCE_PROPERTY, "");
      // The source version the pinned codes rows were made from (joule quantize writes a whole
      // table from one version): the property it commits with the rows, else their own
      // source_version column.
      String recorded = props.get(dev.joule.jobs.quantize.QuantizeJob.SOURCE_VERSION_PROPERTY);
      if (recorded != null) {
        version = Long.valueOf(recorded);
      } else {
        List<Row> v = List.of(pinned.data().columns()).contains("source_version")
            ? pinned.data().select("source_version").limit(1).collectAsList() : List.of();
        version = !v.isEmpty() && !v.get(0).isNullAt(0) ? Long.valueOf(((Number) v.get(0).get(0)).longValue()) : null;
      }
      Reference kept = keptSample(spark, pinned, props, version, rowsScored, tableRows);
      if (kept != null) {
        return kept;
      }
    }
    if (path.isEmpty()) {
      return null;
    }
    Dataset<Row> table;
    try {
      table = dev.joule.jobs.delta.DeltaIO.readPinned(spark, path,
          version == null ? java.util.OptionalLong.empty() : java.util.OptionalLong.of(version), "embeddings table").data();
    } catch (Exception e) { // AnalysisException is checked in Java terms
      throw JouleException.input("quality gate: cannot read the embeddings table " + path + " behind codes table "
          + pinned.path() + ": " + String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
    }
    String embCol = config.string("score.embedding-col");
    String idCol = config.string("score.id-col");
    if (!java.util.Arrays.asList(table.columns()).containsAll(List.of(idCol, embCol))) {
      throw JouleException.input("quality gate: embeddings table " + path + " has no '" + idCol + "' or '"
          + embCol + "' column");
    }
    // Only the rows this run scored (a night's changes, not the whole source).
    return new Reference(table.select(dev.joule.udfs.IdColumn.key(col(idCol), table.schema().apply(idCol).dataType())
            .cast(codes.schema().apply("id").dataType()).as("id"), col(embCol).as("embedding"))
        .join(codes.select("id"), "id", "left_semi"), null);
  }

  /**
   * The fp32 rows {@code joule quantize} kept beside the codes for the gate, or null when they
   * cannot stand for this run: none kept, kept from another source version than the codes rows',
   * or a run that scores part of the table only (a night's changes), whose rows the sample may miss.
   */
  private static Reference keptSample(org.apache.spark.sql.SparkSession spark,
      dev.joule.jobs.delta.DeltaIO.Pinned pinned, Map<String, String> props, Long codesVersion, long rowsScored,
      long tableRows) {
    String kept = props.get(dev.joule.jobs.quantize.QuantizeJob.GATE_SAMPLE_VERSION_PROPERTY);
    String table = dev.joule.jobs.quantize.QuantizeJob.gateSample(pinned.path());
    if (kept == null || codesVersion == null || !kept.equals(codesVersion.toString())
        || !dev.joule.jobs.delta.DeltaIO.exists(spark, table) || rowsScored != tableRows) {
      return null;
    }
    LOG.info("quality gate: comparing with the fp32 rows kept at quantize time in {} (source version {})", table, kept);
    // A sample's rows (quality.sample-rows) read on the driver: no Spark job to plan and run.
    List<Row> rows = dev.joule.jobs.delta.DriverTableReader.of(spark)
        .rows(dev.joule.jobs.delta.DeltaIO.qualified(spark, table), java.util.OptionalLong.empty());
    // Ids of the codes' own type (as quantize writes them): the join with the tasks' kept ids
    // then needs no cast, which Spark's path would make.
    if (rows != null && (rows.isEmpty() || hasColumns(rows.get(0), "id", "embedding")
        && rows.get(0).schema().apply("id").dataType().equals(pinned.data().schema().apply("id").dataType()))) {
      return new Reference(null, rows);
    }
    return new Reference(dev.joule.jobs.delta.DeltaIO.readPinned(spark, table, "quality gate sample").data()
        .select("id", "embedding"), null);
  }

  private static boolean hasColumns(Row r, String... names) {
    List<String> have = List.of(r.schema().fieldNames());
    return have.containsAll(List.of(names));
  }

  /** The table property {@code joule quantize} writes on a codes table: its embeddings table. */
  public static final String SOURCE_PROPERTY = "joule.source";

  /** The precision to try after {@code p} misses the bar, or null after fp32. */
  public static Precision higher(Precision p) {
    return switch (p) {
      case BINARY -> Precision.INT4;
      case INT4 -> Precision.INT8;
      case INT8 -> Precision.FP32;
      case FP32 -> null;
    };
  }

  /**
   * Compares the staged predictions of {@code prep} with fp32 on a sample of {@code reference}
   * (id, embedding: the fp32 rows the staged rows came from).
   */
  public static Check check(Settings s, Scoring.Prepared prep, Scoring.Staged staged, Dataset<Row> reference) {
    Kernel fp32 = prep.model().kernel(Precision.FP32);
    Map<Object, Object> kept = staged.sampled() == null ? null : staged.sampled().published();
    if (kept != null) {
      // The tasks kept the answers of their sample's rows (GateSample): those rows are the sample.
      org.apache.spark.sql.types.DataType keyType = prep.idKind().sparkType();
      Dataset<Row> keptIds = reference.sparkSession().createDataFrame(
          kept.keySet().stream().map(org.apache.spark.sql.RowFactory::create).toList(),
          new org.apache.spark.sql.types.StructType().add("kept_id", keyType));
      reference = reference.join(broadcast(keptIds), col("id").cast(keyType).equalTo(col("kept_id")), "left_semi");
    }
    // Deterministic sample: the rows with the smallest id hashes (a top-N per partition, not a sort).
    List<Row> sample = reference.orderBy(xxhash64(col("id")), col("id")).limit(s.sampleRowsFor(fp32))
        .collectAsList();
    int dim = fp32.dim();
    List<Object> ids = new ArrayList<>();
    List<float[]> rows = new ArrayList<>();
    for (Row r : sample) {
      float[] v = floats(r.get(1), dim);
      if (r.get(0) != null && v != null) { // rows the run rejected are not compared
        ids.add(r.get(0));
        rows.add(v);
      }
    }
    return compare(s, prep, staged, ids, rows, reference.schema().apply("id").dataType(), kept);
  }

  /**
   * As {@link #check(Settings, Scoring.Prepared, Scoring.Staged, Dataset)}, on rows the driver
   * holds (id, embedding, by name): the same rows taken in the same order, Spark's
   * {@code xxhash64} of the id (nulls first), then the id.
   */
  public static Check check(Settings s, Scoring.Prepared prep, Scoring.Staged staged, List<Row> reference) {
    Kernel fp32 = prep.model().kernel(Precision.FP32);
    Map<Object, Object> kept = staged.sampled() == null ? null : staged.sampled().published();
    org.apache.spark.sql.types.DataType keyType = prep.idKind().sparkType();
    org.apache.spark.sql.types.DataType idType = reference.isEmpty() ? keyType
        : reference.get(0).schema().apply("id").dataType();
    record Candidate(Object id, Object internal, Object embedding, long hash) {}
    List<Candidate> candidates = new ArrayList<>();
    for (Row r : reference) {
      Object id = r.getAs("id");
      if (kept != null && (id == null || !kept.containsKey(asKey(id, keyType)))) {
        continue; // the join with the tasks' kept ids
      }
      Object internal = id instanceof String str ? org.apache.spark.unsafe.types.UTF8String.fromString(str) : id;
      long hash = org.apache.spark.sql.catalyst.expressions.XxHash64Function$.MODULE$
          .hash(internal, idType, XXHASH_SEED);
      candidates.add(new Candidate(id, internal, r.getAs("embedding"), hash));
    }
    // Ties on the hash broken by the id as Spark orders it (strings by their UTF-8 bytes).
    candidates.sort(java.util.Comparator.comparingLong(Candidate::hash)
        .thenComparing(Candidate::internal, java.util.Comparator.nullsFirst(QualityGate::compareIds)));
    int dim = fp32.dim();
    List<Object> ids = new ArrayList<>();
    List<float[]> rows = new ArrayList<>();
    for (Candidate c : candidates.subList(0, Math.min(candidates.size(), s.sampleRowsFor(fp32)))) {
      float[] v = floats(c.embedding(), dim);
      if (c.id() != null && v != null) { // rows the run rejected are not compared
        ids.add(c.id());
        rows.add(v);
      }
    }
    return compare(s, prep, staged, ids, rows, idType, kept);
  }

  /** Spark's {@code xxhash64} seed. */
  private static final long XXHASH_SEED = 42L;

  /** An id as the tasks' kept answers key it (the cast Spark's join makes). */
  private static Object asKey(Object id, org.apache.spark.sql.types.DataType keyType) {
    if (keyType instanceof org.apache.spark.sql.types.LongType && id instanceof Number n) {
      return n.longValue();
    } else if (keyType instanceof org.apache.spark.sql.types.IntegerType && id instanceof Number n) {
      return n.intValue();
    } else if (keyType instanceof org.apache.spark.sql.types.StringType) {
      return id.toString();
    }
    return id;
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static int compareIds(Object a, Object b) {
    return ((Comparable) a).compareTo(b);
  }

  /**
   * Compares on the rows the scoring tasks kept ({@link dev.joule.udfs.GateSample}): the
   * {@code sampleRowsFor} of them with the smallest id hashes, so the same rows every run.
   */
  static Check check(Settings s, Scoring.Prepared prep, Scoring.Staged staged, dev.joule.udfs.SampledRows kept) {
    Integer[] order = new Integer[kept.size()];
    long[] hash = new long[kept.size()];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
      hash[i] = dev.joule.udfs.GateSample.hash(kept.ids().get(i));
    }
    java.util.Arrays.sort(order, (a, b) -> Long.compareUnsigned(hash[a], hash[b]));
    int n = Math.min(order.length, s.sampleRowsFor(prep.kernel()));
    List<Object> ids = new ArrayList<>(n);
    List<float[]> rows = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      ids.add(kept.ids().get(order[i]));
      rows.add(kept.rows().get(order[i]));
    }
    return compare(s, prep, staged, ids, rows, prep.idKind().sparkType(), kept.published());
  }

  /**
   * @param kept the answers the tasks published for the sampled rows, by id (a label, or the
   *     neighbours' ids); null: read them back from the written predictions
   */
  private static Check compare(Settings s, Scoring.Prepared prep, Scoring.Staged staged, List<Object> ids,
      List<float[]> rows, org.apache.spark.sql.types.DataType idType, Map<Object, Object> kept) {
    Kernel candidate = prep.kernel();
    Kernel fp32 = prep.model().kernel(Precision.FP32);
    int dim = fp32.dim();
    Map<Object, Object> published = new HashMap<>();
    if (kept != null) {
      published = kept;
    } else if (!ids.isEmpty()) {
      Dataset<Row> idSet = org.apache.spark.sql.SparkSession.active().createDataFrame(
          ids.stream().map(org.apache.spark.sql.RowFactory::create).toList(),
          new org.apache.spark.sql.types.StructType().add("id", idType));
      for (Row r : staged.ofKind(StagedRows.PREDICTION).join(broadcast(idSet), "id")
          .select("id", "label", "neighbors").collectAsList()) {
        published.put(r.get(0), r.isNullAt(2) ? r.getString(1)
            : r.<Row>getList(2).stream().map(n -> n.getString(0)).toList());
      }
    }
    KernelOutput out = fp32.newOutput();
    long compared = 0;
    double sum = 0;
    int batch = 1024;
    for (int from = 0; from < rows.size(); from += batch) {
      int n = Math.min(batch, rows.size() - from);
      float[] values = new float[n * dim];
      for (int i = 0; i < n; i++) {
        System.arraycopy(rows.get(from + i), 0, values, i * dim, dim);
      }
      // fp32 kernels never rescore (rescoring is for quantized candidates).
      EncodedRows rowsAt32 = EncodedRows.fp32(n, dim, values);
      fp32.score(rowsAt32, out.reset(n), VectorOpsProvider.get());
      for (int i = 0; i < n; i++) {
        Object p = published.get(ids.get(from + i));
        if (p == null) {
          continue;
        }
        compared++;
        @SuppressWarnings("unchecked")
        double v = fp32.neighbors() ? recallOfIds(fp32, out, rowsAt32, i, (List<String>) p)
            : agreement(fp32, out, i, (String) p);
        sum += v;
      }
    }
    double value = compared == 0 ? Double.NaN : sum / compared;
    String metric = fp32.neighbors() ? "recall@" + fp32.width() : "top1_agreement";
    double bar = fp32.neighbors() ? s.minRecall() : s.minAgreement();
    // An attempt inside a run, not a run: it is not counted among the JVM's finished runs.
    double joules = dev.joule.jobs.report.EnergySummary.of(staged.energyRows(), 0, staged.energy().powerProfiles(),
        dev.joule.bridge.energy.HardwareProfile.detect(), -1).estimatedJ();
    return new Check(candidate.displayName(), candidate.precision().label(), metric, compared, value, bar,
        compared > 0 && value >= bar, joules);
  }

  /** 1 when the kernel's top class for {@code row} is {@code label}, else 0. */
  static double agreement(Kernel k, KernelOutput out, int row, String label) {
    int w = k.width();
    return k.labels().get(BridgeBatches.argmax(out.scores(), row * w, w)).equals(label) ? 1 : 0;
  }

  /**
   * recall@k of the published neighbours against the exact top k, where rows tied with the exact
   * k-th are interchangeable: with duplicate rows (real tables have them: identical descriptions
   * embed identically) the exact top k is one of several equally right answers, and which one the
   * exact kernel lists is an accident of order. So the hits are the published neighbours strictly
   * above the k-th exact score, plus as many of those tied with it as the exact top k holds.
   */
  static double recallOfIds(Kernel k, KernelOutput out, EncodedRows batch, int row, List<String> neighbors) {
    int w = k.width();
    Set<String> exact = new HashSet<>();
    for (int j = 0; j < w; j++) {
      exact.add(k.labels().get(out.indices()[row * w + j]));
    }
    float kth = out.scores()[row * w + w - 1]; // best first
    int tiedExact = 0;
    for (int j = 0; j < w; j++) {
      tiedExact += out.scores()[row * w + j] == kth ? 1 : 0;
    }
    int above = 0;
    int tied = 0;
    Set<String> seen = new HashSet<>();
    for (String id : neighbors) {
      if (!seen.add(id)) {
        continue;
      }
      float exactScore;
      if (k instanceof dev.joule.bridge.kernel.TopKKernel t) {
        int j = t.indexOf(id);
        if (j < 0) {
          continue;
        }
        exactScore = t.similarity(batch, row, j, VectorOpsProvider.get());
      } else {
        exactScore = exact.contains(id) ? kth : Float.NEGATIVE_INFINITY; // no scores: ids alone
      }
      if (exactScore > kth) {
        above++;
      } else if (exactScore == kth) {
        tied++;
      }
    }
    return (above + Math.min(tied, tiedExact)) / (double) Math.max(1, exact.size());
  }

  /** An embedding cell (array of numbers or packed float32 LE) as floats; null if unusable. */
  static float[] floats(Object cell, int dim) {
    float[] v = new float[dim];
    if (cell instanceof byte[] b) {
      if (b.length != 4 * dim) {
        return null;
      }
      ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
    } else if (cell instanceof scala.collection.Seq<?> seq) {
      if (seq.size() != dim) {
        return null;
      }
      for (int i = 0; i < dim; i++) {
        Object x = seq.apply(i);
        if (x == null) {
          return null;
        }
        v[i] = ((Number) x).floatValue();
      }
    } else {
      return null;
    }
    for (float x : v) {
      if (!Float.isFinite(x)) {
        return null;
      }
    }
    return v;
  }

  static void log(String runId, Outcome o) {
    if (o.status().equals("passed") || o.status().equals("not_needed") || o.status().equals("off")) {
      LOG.info("run {}: quality gate {}", runId, o.describe());
    } else {
      LOG.warn("run {}: quality gate {}", runId, o.describe());
    }
  }
}
