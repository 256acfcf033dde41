package dev.joule.jobs.nightly;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.sha2;
import static org.apache.spark.sql.functions.substring;

import dev.joule.encoder.EncoderCache;
import dev.joule.encoder.EncoderModel;
import dev.joule.encoder.SentenceEncoder;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.config.JouleSpark;
import dev.joule.jobs.console.ConsoleProgress;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.delta.RunRecovery;
import dev.joule.jobs.delta.TableCommit;
import dev.joule.jobs.delta.UncommittedFiles;
import dev.joule.jobs.embed.EmbedJob;
import dev.joule.jobs.report.EnergySummary;
import dev.joule.jobs.score.IdCensus;
import dev.joule.jobs.score.OutputTables;
import dev.joule.jobs.score.RunRecord;
import dev.joule.jobs.score.ScoreResult;
import dev.joule.jobs.score.Scoring;
import dev.joule.udfs.embed.EmbedTables;
import dev.joule.udfs.embed.LongText;
import dev.joule.udfs.files.TaskOutput;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The first step of a night over a text source ({@code nightly.text.source}): embed only the
 * rows whose text changed, into the embeddings table the night then scores
 * ({@code nightly.source}), so that the scoring step sees (through that table's change feed)
 * only the rows re-embedded.
 *
 * <p>A row is re-embedded when no embeddings row of the same id and model has its text's hash
 * ({@link dev.joule.encoder.TextHash}, which Spark's {@code sha2} computes the same way); ids
 * gone from the source leave the embeddings table. The step is idempotent by content: a rerun
 * finds the texts it embedded already there and embeds nothing again.
 *
 * <p>Commits, as one run ({@code JOB-embed}): a MERGE into the embeddings table (or, when it
 * does not exist yet, the tasks' files as its first version, with the change feed on), the
 * rejects of the night's embed key, its energy rows, and last its runs row. A failure undoes
 * its own commits; a crash is undone by the next run's recovery.
 */
public final class TextNight {

  private static final Logger LOG = LoggerFactory.getLogger(TextNight.class);

  /**
   * What the step did.
   *
   * @param texts rows in the text source
   * @param changed rows read to embed (new or changed text, and rows that cannot be embedded)
   */
  public record Result(String runId, long texts, long changed, long embedded, long rejected, long deleted, long truncated,
      ScoreResult run) {
    /** The runs row's source_changes, and the console's line. */
    public String describe() {
      return String.format(Locale.ROOT, "%,d of %,d texts new or changed: %,d embedded, %,d rejected; %,d reused "
          + "unchanged; %,d deleted at the source%s", changed, texts, embedded, rejected, texts - changed, deleted,
          truncated == 0 ? "" : String.format(Locale.ROOT, "; %,d cut to %d word pieces", truncated,
              EncoderModel.MAX_TOKENS));
    }
  }

  private final SparkSession spark;
  private final JouleConfig config;

  TextNight(SparkSession spark, JouleConfig config) {
    this.spark = spark;
    this.config = config;
  }

  Result run(String job, String nightKey, String embeddings, OutputTables out, boolean dryRun) {
    long wall0 = System.nanoTime();
    long proc0 = Scoring.processCpuNanos();
    int runsBefore = EnergySummary.startRun();
    String source = config.string("nightly.text.source");
    EncoderModel model;
    LongText longText;
    try {
      model = EncoderModel.of(config.string("nightly.text.model"));
      longText = LongText.of(config.string("nightly.text.long-text"));
    } catch (IllegalArgumentException e) {
      throw JouleException.usage("nightly.text: " + e.getMessage());
    }
    String embedJob = job + "-embed";
    String runId = embedJob + "-" + java.util.UUID.randomUUID().toString().substring(0, 8);
    String embedKey = embedJob + ":" + model.label() + ":" + nightKey;
    if (!dryRun) {
      RunRecovery.recover(spark, List.of(embeddings), out.runs(), config.duration("recovery.grace"));
    }
    EmbedJob embed = new EmbedJob(spark, config);
    EmbedJob.Input in = embed.read(source, EmbedJob.Format.DELTA, config.string("nightly.text.id-col"),
        config.string("nightly.text.text-col"), null);
    Dataset<Row> hashed = in.rows().withColumn("_joule_hash", substring(sha2(col("text"), 256), 1, 32));
    boolean exists = DeltaIO.exists(spark, embeddings);
    Dataset<Row> changed = in.rows();
    Dataset<Row> gone = null;
    if (exists) {
      Dataset<Row> have = spark.read().format("delta").load(embeddings).filter(col("model").equalTo(model.label()))
          .select(col("id").as("_joule_id"), col("text_hash").as("_joule_have"));
      changed = hashed.join(have, hashed.col("id").equalTo(have.col("_joule_id"))
              .and(hashed.col("_joule_hash").equalTo(have.col("_joule_have"))), "left_anti")
          .drop("_joule_hash");
      gone = have.select(col("_joule_id").as("id")).except(in.rows().select("id")).cache();
    }
    long texts = in.rows().count();
    IdCensus census = IdCensus.of(changed.select("id"), java.util.OptionalLong.empty(), IdCensus.Limits.of(config),
        "night " + nightKey + " (texts of " + source + ")");
    long rowsIn = census.rows();
    long deleted = gone == null ? 0 : gone.count();
    SentenceEncoder encoder = EncoderCache.get(model);
    String staging = out.staging(runId);
    Set<String> committed = new HashSet<>();
    EmbedJob.Reconciled counts = null;
    try {
      EmbedJob.Pass pass = rowsIn == 0 ? null : embed.embed(in, changed, rowsIn, census.duplicates(), runId, embedJob,
          model, config.integer("nightly.text.batch"), longText, embeddings, staging + "/rejects", encoder);
      counts = pass == null ? EmbedJob.reconcile(List.of(), 0) : pass.counts();
      ScoreResult result = result(runId, source, in, model, encoder, rowsIn, counts, wall0, proc0, runsBefore);
      Result r = new Result(runId, texts, rowsIn, counts.embedded(), counts.rejected(), deleted, counts.truncated(),
          result);
      if (dryRun) {
        return r;
      }
      ConsoleProgress.phase("commit (embeddings)");
      TableCommit commit = out.commit(spark, runId); // not the embeddings
      try {
        List<TaskOutput.WrittenFile> files = counts.files(EmbedTables.EMBEDDINGS);
        if (!exists && !files.isEmpty()) {
          Map<String, String> constants = new LinkedHashMap<>();
          constants.put("model", model.label());
          constants.put("run_id", runId);
          commit.addFiles(embeddings, pass.embeddingsSchema(), files, null, constants,
              dev.joule.jobs.embed.EmbedJob.EMBEDDINGS_TABLE_PROPERTIES);
          files.forEach(f -> committed.add(UncommittedFiles.key(embeddings, f.name())));
        } else if (!files.isEmpty() || deleted > 0) {
          merge(commit, embeddings, pass == null ? null : pass.embeddingsSchema(), files, gone, model);
        }
        EmbedJob.recordDimensionScales(spark, commit, embeddings, counts.maxAbs());
        List<TaskOutput.WrittenFile> rejects = counts.files(EmbedTables.REJECTS);
        if (!rejects.isEmpty() || hasRows(out.rejects(), embedKey)) {
          Dataset<Row> rows = rejects.isEmpty() ? emptyRejects(out.rejects(), embedKey)
              : spark.read().schema(pass.rejectsSchema()).parquet(rejects.stream().map(TaskOutput.WrittenFile::path)
                  .toArray(String[]::new)).select(col("id"), col("reason"), col("run_id"),
                  lit(model.label()).as("model_id"), lit("embed").as("kernel"), lit(embedKey).as("run_key"));
          commit.replaceWhere(out.rejects(), "run_key = '" + DeltaIO.sqlString(embedKey) + "'", rows);
        }
        if (!counts.energyRows().isEmpty()) {
          commit.addRows(out.energyLog(), RunRecord.KEYED_ENERGY_SCHEMA, RunRecord.keyedEnergyRows(
              counts.energyRows(), embedKey), null, List.of("run_id", "job", "run_key"), TableCommit.Guard.NONE);
        }
        ScoreResult committedResult = result(runId, source, in, model, encoder, rowsIn, counts, wall0, proc0, runsBefore);
        commit.addRows(out.runs(), RunRecord.SCHEMA, List.of(new RunRecord(embedJob, null, committedResult,
            Timestamp.from(Instant.now()), null, deleted, texts, exists ? "changed-texts" : "full",
            exists ? null : "first embedding of " + source, r.describe()).toRow(RunRecord.COMMITTED)), null,
            RunRecord.STATS_COLUMNS, TableCommit.Guard.NONE);
        LOG.info("night {}: {}", nightKey, r.describe());
        return new Result(runId, texts, rowsIn, counts.embedded(), counts.rejected(), deleted, counts.truncated(),
            committedResult);
      } catch (Exception | Error e) {
        LOG.error("night {}: embedding step {} failed while committing; undoing its own commits", nightKey, runId);
        commit.rollback();
        throw e;
      }
    } finally {
      if (gone != null) {
        gone.unpersist();
      }
      UncommittedFiles.delete(spark, List.of(embeddings), runId, committed);
      Scoring.deleteStaging(spark, staging);
    }
  }

  /**
   * One MERGE: the new rows replace their id's row of this model (or are inserted), and ids gone
   * from the source are deleted. The new rows are read back from the tasks' files, which the
   * MERGE then writes into files of its own.
   */
  private void merge(TableCommit commit, String embeddings, StructType schema, List<TaskOutput.WrittenFile> files,
      Dataset<Row> gone, EncoderModel model) {
    StructType target = spark.read().format("delta").load(embeddings).schema();
    Dataset<Row> upserts = files.isEmpty() ? null : spark.read().schema(schema)
        .parquet(files.stream().map(TaskOutput.WrittenFile::path).toArray(String[]::new))
        .withColumn("_joule_delete", lit(false));
    Dataset<Row> deletes = gone == null ? null : gone.withColumn("_joule_delete", lit(true));
    Dataset<Row> src = upserts == null ? deletes : deletes == null ? upserts
        : upserts.unionByName(deletes, true);
    Map<String, Column> set = new LinkedHashMap<>();
    for (StructField f : target.fields()) {
      set.put(f.name(), col("s.`" + f.name() + "`"));
    }
    String on = "t.id = s.id AND t.model = '" + DeltaIO.sqlString(model.label()) + "'";
    commit.merge(embeddings, t -> {
      io.delta.tables.DeltaMergeBuilder m = t.as("t").merge(src.as("s"), on).whenMatched("s._joule_delete").delete();
      if (upserts != null) { // a night of deletions alone has no columns to set
        m = m.whenMatched().update(set).whenNotMatched("NOT s._joule_delete").insert(set);
      }
      m.execute();
    });
  }

  private ScoreResult result(String runId, String source, EmbedJob.Input in, EncoderModel model,
      SentenceEncoder encoder, long rowsIn, EmbedJob.Reconciled counts, long wall0, long proc0, int runsBefore) {
    return new ScoreResult(runId, source, in.version(), config.string("nightly.source"), model.label(),
        encoder.contentId(), model.label(), encoder.contentId(), model.weights(), EncoderModel.DIM, EncoderModel.DIM,
        rowsIn, counts.embedded(), counts.rejected(), counts.reasons(),
        EnergySummary.of(counts.energyRows(), Math.max(0, Scoring.processCpuNanos() - proc0 - counts.taskCpuNanos()),
            config.energySpec(JouleSpark.slotsPerExecutor(spark)).powerProfiles(), runsBefore),
        System.nanoTime() - wall0, true, null);
  }

  private boolean hasRows(String table, String runKey) {
    return DeltaIO.exists(spark, table)
        && !spark.read().format("delta").load(table).filter(col("run_key").equalTo(runKey)).limit(1).isEmpty();
  }

  /** No rows, in the rejects table's schema: replaces an earlier attempt's rejects of this key. */
  private Dataset<Row> emptyRejects(String rejects, String runKey) {
    return spark.read().format("delta").load(rejects).filter(col("run_key").equalTo(runKey)).limit(0);
  }
}
