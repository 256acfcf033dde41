package dev.joule.jobs.score;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;

import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.delta.TableCommit;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.jobs.report.EnergySummary;
import dev.joule.udfs.EnergySpec;
import dev.joule.udfs.StagedRows;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Function;
import org.apache.spark.sql.Dataset;
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
  public record Request(String input, ModelSpec model, Precision precision, String output, boolean commit) {
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
    String runId = "score-" + RUN_TS.format(Instant.now()) + "-" + UUID.randomUUID().toString().substring(0, 8);
    ModelSpec model = req.model();
    DeltaIO.Pinned pinned = DeltaIO.readPinned(spark, req.input(), "input");
    Scoring.Prepared asked = Scoring.prepare(config, pinned, model, req.precision(), Scoring.passthrough(config));
    long rowsIn = asked.select(pinned.data()).count();

    OutputTables out = new OutputTables(req.output());
    String staging = null;
    try {
      // Stages at the asked precision; the quality gate may fail the run or stage it again higher.
      QualityGate.Gated gated = QualityGate.stage(spark, config, pinned, asked, p -> p.select(pinned.data()),
          rowsIn, runId, "score", out);
      staging = gated.staging();
      Scoring.Prepared prep = gated.prep();
      Kernel kernel = prep.kernel();
      String kernelId = prep.info().id();
      Scoring.Staged st = gated.staged();
      Dataset<Row> staged = st.rows();
      long scored = st.scored();
      long rejected = st.rejected();
      List<Row> energyRows = st.energyRows();
      EnergySpec energy = st.energy();
      Map<String, Long> reasons = st.reasons();
      long taskCpu = st.taskCpuNanos();
      // The run's result once its fixed cost is known: process CPU outside partition tasks so far.
      Function<Boolean, ScoreResult> resultNow = committed -> new ScoreResult(
          runId, req.input(), pinned.version(), req.output(), model.modelId(), model.modelVersion(),
          kernel.displayName(), kernelId, kernel.precision().label(), kernel.dim(), kernel.width(),
          rowsIn, scored, rejected, reasons,
          EnergySummary.of(energyRows, Math.max(0, Scoring.processCpuNanos() - proc0 - taskCpu),
              energy.powerProfiles()),
          System.nanoTime() - wall0, committed, gated.outcome());
      if (!req.commit()) {
        return resultNow.apply(false);
      }
      Timestamp scoredAt = Timestamp.from(Instant.now());
      String replace = "model_id = '" + model.modelId() + "' AND kernel = '" + kernel.displayName() + "'";
      List<org.apache.spark.sql.Column> predictionCols = new java.util.ArrayList<>(List.of(
          col("id"), lit(model.modelId()).as("model_id"), lit(model.modelVersion()).as("model_version"),
          lit(kernel.displayName()).as("kernel"), col("label"), col("score"), col("scores"),
          col("neighbors"), lit(runId).as("run_id"), lit(scoredAt).as("scored_at")));
      predictionCols.addAll(prep.passthroughColumns()); // score.passthrough / --passthrough, last
      Dataset<Row> predictions = staged.filter(col("kind").equalTo(StagedRows.PREDICTION))
          .select(predictionCols.toArray(org.apache.spark.sql.Column[]::new));
      Dataset<Row> rejects = staged.filter(col("kind").equalTo(StagedRows.REJECT)).select(
          col("id"), col("reason"), lit(runId).as("run_id"), lit(model.modelId()).as("model_id"),
          lit(kernel.displayName()).as("kernel"));
      Dataset<Row> energyLog = staged.filter(col("kind").equalTo(StagedRows.ENERGY)).select("energy.*");

      dev.joule.jobs.console.ConsoleProgress.phase("commit");
      TableCommit commit = new TableCommit(spark);
      String failAfter = config.string("testing.fail-after-table");
      ScoreResult result;
      try {
        commit.replaceWhere(out.predictions(), replace, predictions);
        failIf(failAfter, "predictions");
        commit.replaceWhere(out.rejects(), replace, rejects);
        failIf(failAfter, "rejects");
        commit.append(out.energyLog(), energyLog);
        failIf(failAfter, "energy_log");
        // Measured after the data commits, so the fixed cost includes them; the runs row is last.
        result = resultNow.apply(true);
        commit.append(out.runs(), new RunRecord("score", null, result, scoredAt, null, 0, result.rowsIn(),
            "full", null).toDataFrame(spark));
      } catch (Exception e) { // SparkException from a failed write is checked in Java terms
        LOG.error("run {} failed while committing; rolling back the tables it wrote", runId);
        commit.rollback();
        throw e;
      }
      LOG.info("run {}: committed {} predictions, {} rejects, {} energy rows", runId, scored,
          rejected, energyRows.size());
      return result;
    } finally {
      if (staging != null) {
        Scoring.deleteStaging(spark, staging);
      }
    }
  }

  private static void failIf(String configured, String table) {
    if (table.equals(configured)) {
      throw new IllegalStateException("injected failure after writing " + table
          + " (testing hook joule.testing.fail-after-table)");
    }
  }



}
