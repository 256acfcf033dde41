package dev.joule.jobs.score;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.min;
import static org.apache.spark.sql.functions.substring_index;

import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.delta.TableCommit;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.jobs.report.EnergySummary;
import dev.joule.udfs.StagedRows;
import dev.joule.udfs.files.PartitionFiles;
import dev.joule.jobs.delta.UncommittedFiles;
import dev.joule.udfs.files.RunColumns;
import java.util.Map;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.UUID;
import java.util.function.Function;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code joule score}: a Delta table of embeddings → predictions, rejects, energy_log and runs.
 *
 * <p>Order of work, so that a failure at any point leaves the output tables as they were:
 * <ol>
 *   <li>pin the input at its latest Delta version and count it;
 *   <li>with {@code --precision auto}, choose the kernel on the gate's sample ({@link AutoPrecision});
 *   <li>score every partition once into a staging folder (predictions, rejects and one energy
 *       row per partition, in one Spark job);
 *   <li>reconcile: rows_in = rows_scored + rows_rejected, one energy row per partition;
 *   <li>the quality gate ({@link QualityGate}): a quantized run's answers against fp32 on a
 *       sample; below the bar, fail (exit 4) or score again one precision up;
 *   <li>commit predictions (replacing this model+kernel's earlier rows), rejects, energy_log,
 *       and last the runs row; if any write fails, the earlier ones are rolled back.
 * </ol>
 */
public final class ScoreJob {

  private static final Logger LOG = LoggerFactory.getLogger(ScoreJob.class);
  private static final DateTimeFormatter RUN_TS =
      DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC);

  /** What to score. {@code commit = false} stages and reconciles but writes no table. */
  public record Request(String input, ModelSpec model, PrecisionChoice precision, String output, boolean commit) {
    public Request(String input, ModelSpec model, Precision precision, String output, boolean commit) {
      this(input, model, new PrecisionChoice.Fixed(precision), output, commit);
    }

    public Request(String input, Path modelFile, Precision precision, String output, boolean commit) {
      this(input, LinearModelFile.readAny(modelFile), precision, output, commit);
    }
  }


  private final SparkSession spark;
  private final JouleConfig config;

  public ScoreJob(SparkSession spark, JouleConfig config) {
    this.spark = spark;
    this.config = config;
  }

  public ScoreResult run(Request req) {
    long wall0 = System.nanoTime();
    long proc0 = Scoring.processCpuNanos();
    int runsBefore = EnergySummary.startRun();
    String runId = "score-" + RUN_TS.format(Instant.now()) + "-" + UUID.randomUUID().toString().substring(0, 8);
    ModelSpec model = req.model();
    if (req.commit()) {
      // Before any work: an output path holding a user's files is refused, and what a crashed
      // run left on this output is undone.
      dev.joule.jobs.console.SparkJobProfile.step("output check and recovery");
      new OutputTables(req.output()).requireWritable(spark);
      new OutputTables(req.output()).recover(spark, config.duration("recovery.grace"));
    }
    dev.joule.jobs.console.SparkJobProfile.step("pin input");
    DeltaIO.Pinned pinned = DeltaIO.readPinned(spark, req.input(), "input");
    boolean allowNoneScored = config.bool("score.allow-all-rejected");
    Scoring.Prepared prepared;
    try {
      // auto: fp32 reads the same columns as any kernel; the choice is made once the rows are counted.
      Precision first = req.precision() instanceof PrecisionChoice.Fixed f ? f.precision() : Precision.FP32;
      if (req.precision() instanceof PrecisionChoice.Auto) {
        AutoPrecision.requireEmbeddings(pinned);
      }
      dev.joule.jobs.console.SparkJobProfile.step("prepare kernel");
      prepared = Scoring.prepare(config, pinned, model, first, Scoring.passthrough(config));
    } catch (JouleException e) {
      // An empty table says it is empty, whatever its columns.
      if (pinned.data().isEmpty()) {
        throw noRows(pinned, false);
      }
      throw e;
    }
    // The input's rows counted and its ids checked in one job over the id column: every row of an
    // id the input holds more than once is rejected, so no id gets two predictions.
    dev.joule.jobs.console.SparkJobProfile.step("id census");
    IdCensus census = IdCensus.of(prepared.select(pinned.data()), pinned.rows(), IdCensus.Limits.of(config),
        "input " + pinned.path());
    long rowsIn = census.rows();
    if (rowsIn == 0 && !allowNoneScored) {
      throw noRows(pinned, true);
    }
    AutoPrecision.Chosen auto = null;
    JouleConfig gateConfig = config;
    if (req.precision() instanceof PrecisionChoice.Auto) {
      auto = AutoPrecision.choose(config, pinned, prepared, rowsIn, census.duplicates());
      prepared = auto.prepared();
      gateConfig = AutoPrecision.gateConfig(config, auto.choice());
    }
    Scoring.Prepared asked = prepared.withDuplicates(census.duplicates());

    OutputTables out = new OutputTables(req.output());
    // The output folders this run would create: removed again if the run leaves nothing in them.
    String createdRoot = req.commit() ? DeltaIO.firstMissing(spark, req.output()) : null;
    Timestamp scoredAt = Timestamp.from(Instant.now());
    Scoring.Sink sink = null;
    java.util.Set<String> committedFiles = new java.util.HashSet<>();
    try {
      // A committing run writes its rows once, straight into the tables' data files, and commits
      // them after reconciling; a run that does not commit stages them. The quality gate may fail
      // the run or score it again at a higher precision.
      QualityGate.Gated gated;
      try {
        // The run scores the whole pinned table: its row count is the census's.
        gated = QualityGate.stage(spark, gateConfig, pinned, asked, p -> p.select(pinned.data()), rowsIn, rowsIn,
            runId, "score",
            (p, attempt) -> req.commit()
                ? new Scoring.TableFolders(out.predictions(), out.rejects(), Scoring.runColumns(runId, model, p, scoredAt),
                    runId + attempt)
                : new Scoring.Staging(out.staging(runId + attempt)));
      } catch (QualityGate.Refused e) {
        throw refused(auto == null ? e : e.withAuto(auto.choice()), req, runId, pinned, rowsIn, wall0, proc0, runsBefore, out);
      }
      QualityGate.Outcome outcome = auto == null ? gated.outcome() : gated.outcome().withAuto(auto.choice());
      sink = gated.sink();
      Scoring.Prepared prep = gated.prep();
      Kernel kernel = prep.kernel();
      Scoring.Staged st = gated.staged();
      long scored = st.scored();
      long rejected = st.rejected();
      if (scored == 0 && rowsIn > 0 && !allowNoneScored) {
        throw JouleException.input(allRejected(st, rowsIn));
      }
      // The run's result once its fixed cost is known: process CPU outside partition tasks so far.
      Function<Boolean, ScoreResult> resultNow = committed -> result(req, runId, pinned, rowsIn, prep, st,
          wall0, proc0, runsBefore, committed, outcome);
      if (!req.commit()) {
        return resultNow.apply(false);
      }
      RunColumns columns = ((Scoring.TableFolders) sink).columns();
      Map<String, String> replace = new java.util.LinkedHashMap<>();
      replace.put("model_id", model.modelId());
      replace.put("kernel", kernel.displayName());
      Map<String, String> constants = new java.util.LinkedHashMap<>(replace);
      constants.put("run_id", runId);

      dev.joule.jobs.console.ConsoleProgress.phase("commit");
      dev.joule.jobs.console.SparkJobProfile.step("commit predictions");
      TableCommit commit = out.commit(spark, runId);
      String failAfter = config.string("testing.fail-after-table");
      String haltAfter = config.string("testing.halt-after-table");
      ScoreResult result;
      try {
        // Each table in one commit that replaces this model and kernel's earlier rows.
        commit.addFiles(out.predictions(), columns.predictionsSchema(), st.filesOf(PartitionFiles.PREDICTIONS),
            replace, constants);
        st.filesOf(PartitionFiles.PREDICTIONS).forEach(f -> committedFiles.add(UncommittedFiles.key(out.predictions(), f.name())));
        failIf(failAfter, haltAfter, "predictions");
        dev.joule.jobs.console.SparkJobProfile.step("commit rejects");
        commit.addFiles(out.rejects(), columns.rejectsSchema(), st.filesOf(PartitionFiles.REJECTS), replace, constants);
        st.filesOf(PartitionFiles.REJECTS).forEach(f -> committedFiles.add(UncommittedFiles.key(out.rejects(), f.name())));
        failIf(failAfter, haltAfter, "rejects");
        dev.joule.jobs.console.SparkJobProfile.step("commit energy_log");
        commit.addRows(out.energyLog(), dev.joule.udfs.EnergyRecord.SCHEMA, st.energyRows(), null,
            List.of("run_id", "job"), TableCommit.Guard.NONE);
        failIf(failAfter, haltAfter, "energy_log");
        // Measured after the data commits, so the fixed cost includes them; the runs row is last.
        result = resultNow.apply(true);
        dev.joule.jobs.console.SparkJobProfile.step("commit runs");
        commit.addRows(out.runs(), RunRecord.SCHEMA, List.of(new RunRecord("score", null, result, scoredAt, null, 0,
            result.rowsIn(), "full", null).toRow(RunRecord.COMMITTED)), null, RunRecord.STATS_COLUMNS,
            TableCommit.Guard.NONE);
      } catch (Exception | Error e) { // SparkException from a failed write is checked in Java terms
        LOG.error("run {} failed while committing; undoing its own commits", runId);
        commit.rollback();
        for (Throwable c = e; c != null; c = c.getCause()) {
          if (c instanceof java.util.ConcurrentModificationException) {
            throw new JouleException(JouleException.CONFLICT, "other runs kept committing to " + out.root()
                + " while this one committed (" + c.getClass().getSimpleName() + "); this run's commits were "
                + "undone; rerun it", e);
          }
        }
        throw e;
      }
      LOG.info("run {}: committed {} predictions, {} rejects, {} energy rows", runId, scored,
          rejected, st.energyRows().size());
      return result;
    } finally {
      if (sink != null) {
        // Files of failed task attempts, or of a run that did not commit; committed files stay.
        Scoring.discard(spark, sink, committedFiles);
      }
      // A run that failed before committing leaves no empty output folder it created.
      DeltaIO.removeEmptyFolders(spark, req.output(), createdRoot);
    }
  }

  private ScoreResult result(Request req, String runId, DeltaIO.Pinned pinned, long rowsIn, Scoring.Prepared prep,
      Scoring.Staged st, long wall0, long proc0, int runsBefore, boolean committed, QualityGate.Outcome gate) {
    Kernel kernel = prep.kernel();
    return new ScoreResult(runId, req.input(), pinned.version(), req.output(), req.model().modelId(),
        req.model().modelVersion(), kernel.displayName(), prep.info().id(), kernel.precision().label(), kernel.dim(),
        kernel.width(), rowsIn, st.scored(), st.rejected(), st.reasons(),
        EnergySummary.of(st.energyRows(), Math.max(0, Scoring.processCpuNanos() - proc0 - st.taskCpuNanos()),
            st.energy().powerProfiles(), runsBefore),
        System.nanoTime() - wall0, committed, gate);
  }

  /**
   * A run the quality gate refused still accounts for itself: its result (the refused attempt's
   * rows and partition energy) goes into the runs table as status {@code refused}, with the
   * gate's verdict and its claim card. Nothing else is written: its rows are not published, and
   * its partitions are not in the energy_log, which holds published attempts only.
   */
  private QualityGate.Refused refused(QualityGate.Refused e, Request req, String runId, DeltaIO.Pinned pinned,
      long rowsIn, long wall0, long proc0, int runsBefore, OutputTables out) {
    ScoreResult r = result(req, runId, pinned, rowsIn, e.prep(), e.staged(), wall0, proc0, runsBefore, false, e.outcome());
    boolean recorded = false;
    if (req.commit()) {
      try {
        out.commit(spark, runId).addRows(out.runs(), RunRecord.SCHEMA,
            List.of(new RunRecord("score", null, r, Timestamp.from(Instant.now()), null, 0, rowsIn, "full", null)
                .toRow(RunRecord.REFUSED)), null, RunRecord.STATS_COLUMNS, TableCommit.Guard.NONE);
        recorded = true;
        LOG.warn("run {}: refused by the quality gate; recorded in {} as {}", runId, out.runs(), RunRecord.REFUSED);
      } catch (Exception w) { // a SparkException from the write is checked in Java terms
        LOG.error("run {}: refused by the quality gate, and its runs row could not be written: {}", runId, w.toString());
      }
    }
    return e.withResult(r, recorded);
  }

  /** An empty input: one line, and whether {@code score.allow-all-rejected} would commit it. */
  private static JouleException noRows(DeltaIO.Pinned pinned, boolean canCommitEmpty) {
    return JouleException.input("input " + pinned.path() + " has no rows (Delta version " + pinned.version()
        + "); nothing scored, nothing committed"
        + (canCommitEmpty ? " (joule.score.allow-all-rejected = true commits an empty run)" : ""));
  }

  /** One line: how many rows, why (each reason with one example), and what to do. */
  private static String allRejected(Scoring.Staged st, long rowsIn) {
    StringBuilder why = new StringBuilder();
    for (Row r : st.ofKind(StagedRows.REJECT).groupBy(substring_index(col("reason"), ":", 1).as("code"))
        .agg(count(lit(1)), min(col("reason"))).orderBy(col("code")).collectAsList()) {
      String example = r.getString(2);
      int colon = example.indexOf(':');
      why.append(why.length() == 0 ? "" : "; ").append(r.getString(0))
          .append(String.format(java.util.Locale.ROOT, " %,d", r.getLong(1)))
          .append(colon < 0 ? "" : " (e.g. " + example.substring(colon + 1).trim() + ")");
    }
    return String.format(java.util.Locale.ROOT, "all %,d rows rejected: %s; nothing committed "
        + "(joule.score.allow-all-rejected = true commits such a run)", rowsIn, why);
  }

  /** Testing hooks: fail, or halt the JVM as kill -9 would, right after writing {@code table}. */
  public static void failIf(String configured, String halt, String table) {
    if (table.equals(halt)) {
      Runtime.getRuntime().halt(137);
    }
    if (table.equals(configured)) {
      throw new IllegalStateException("injected failure after writing " + table
          + " (testing hook joule.testing.fail-after-table)");
    }
  }



}
