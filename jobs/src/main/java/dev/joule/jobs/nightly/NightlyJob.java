package dev.joule.jobs.nightly;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.rank;

import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.console.SparkJobProfile;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.delta.DriverTableReader;
import dev.joule.jobs.delta.RunRecovery;
import dev.joule.jobs.delta.TableCommit;
import dev.joule.jobs.delta.UncommittedFiles;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.jobs.report.EnergySummary;
import dev.joule.jobs.model.ReferenceSet;
import dev.joule.jobs.score.IdCensus;
import dev.joule.jobs.score.OutputTables;
import dev.joule.jobs.score.QualityGate;
import dev.joule.jobs.score.RunRecord;
import dev.joule.jobs.score.ScoreJob;
import dev.joule.jobs.score.ScoreResult;
import dev.joule.jobs.score.Scoring;
import dev.joule.udfs.StagedRows;
import dev.joule.udfs.files.PartitionFiles;
import dev.joule.udfs.files.TaskOutput;
import io.delta.tables.DeltaTable;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.function.Consumer;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code joule nightly}: scores only what changed in the source since the last committed night,
 * and commits exactly once per run key ({@code job:model_id:date}).
 *
 * <p>Changes come from Delta's change data feed over (last committed source version, current];
 * if the feed is off or gone (e.g. vacuumed), the night falls back to a full scan and records
 * why. Each write is idempotent by run key, so a run that dies anywhere is completed by its
 * rerun and never duplicated:
 * <ol>
 *   <li>predictions: one MERGE by (id, model_id), upserting rescored rows and deleting (or
 *       tombstoning) rows deleted at the source — applying it twice gives the same table;
 *   <li>rejects and energy_log: replace this run key's rows;
 *   <li>runs, last: insert this run key's row only if no committed row exists; finding one
 *       means another run committed the same night first (exit code 5).
 * </ol>
 * An exception during the commit rolls back what was written (as in {@code score}); a failure
 * while scoring writes nothing.
 */
public final class NightlyJob {

  private static final Logger LOG = LoggerFactory.getLogger(NightlyJob.class);

  /**
   * One night. {@code allowUnfinished}: score a night that has not ended yet (as of end of date)
   * or a date after today (as of latest); without it such a night is refused (exit code 2).
   */
  public record Request(LocalDate date, boolean full, boolean dryRun, boolean allowUnfinished) {
    public Request(LocalDate date, boolean full, boolean dryRun) {
      this(date, full, dryRun, false);
    }
  }

  /**
   * What a night did. {@code status}: committed, already_committed or dry_run. {@code sourceFrom}:
   * the source version the last committed night had read, -1 on a first night (see
   * {@link #sourceChanges()}).
   */
  public record Result(String runKey, String runId, String status, String scanMode,
      String fullScanReason, long sourceFrom, long sourceTo, long sourceRows, long rowsIn,
      long scored, long rejected, long deleted, ScoreResult score, Map<String, Long> phaseNanos,
      TextNight.Result text, Engine engine) {

    public Result(String runKey, String runId, String status, String scanMode, String fullScanReason, long sourceFrom,
        long sourceTo, long sourceRows, long rowsIn, long scored, long rejected, long deleted, ScoreResult score,
        Map<String, Long> phaseNanos, TextNight.Result text) {
      this(runKey, runId, status, scanMode, fullScanReason, sourceFrom, sourceTo, sourceRows, rowsIn, scored, rejected,
          deleted, score, phaseNanos, text, Engine.SPARK);
    }

    public Result(String runKey, String runId, String status, String scanMode, String fullScanReason, long sourceFrom,
        long sourceTo, long sourceRows, long rowsIn, long scored, long rejected, long deleted, ScoreResult score,
        Map<String, Long> phaseNanos) {
      this(runKey, runId, status, scanMode, fullScanReason, sourceFrom, sourceTo, sourceRows, rowsIn, scored, rejected,
          deleted, score, phaseNanos, null);
    }

    /** The embedding step's summary in words, or null for a night without a text source. */
    public String textSummary() {
      return text == null ? null : text.describe();
    }

    /** The embedding step's figures (rows in are the texts read to embed), or null. */
    public ScoreResult textRun() {
      return text == null ? null : text.run();
    }

    /** What of the source the night read, in words (the runs table's {@code source_changes}). */
    public String sourceChanges() {
      return describeSource(scanMode, fullScanReason, sourceFrom, sourceTo);
    }
  }

  /**
   * Where a night runs ({@code nightly.engine}): {@link #AUTO} on the driver alone where
   * {@link DriverNight} takes the night, else with Spark; {@link #SPARK} always with Spark.
   * {@link #DRIVER} names where a night ran: it is not a setting.
   */
  public enum Engine {
    AUTO, SPARK, DRIVER;

    /** {@code nightly.engine}. */
    public static Engine setting(JouleConfig config) {
      String v = config.string("nightly.engine");
      return switch (v) {
        case "auto" -> AUTO;
        case "spark" -> SPARK;
        default -> throw JouleException.usage("nightly.engine must be auto or spark, got '" + v + "'");
      };
    }
  }

  /** A night's settings, read from {@code joule.nightly.*} and checked. */
  record Settings(String job, String source, OutputTables out, Precision precision, String asOf, ZoneId zone) {
    static Settings of(JouleConfig config) {
      Precision precision;
      try {
        precision = Precision.parse(config.string("nightly.precision"));
      } catch (IllegalArgumentException e) {
        throw JouleException.usage("nightly.precision: " + e.getMessage());
      }
      String asOf = config.string("nightly.as-of");
      if (!asOf.equals("latest") && !asOf.equals("end-of-date")) {
        throw JouleException.usage("nightly.as-of must be latest or end-of-date, got '" + asOf + "'");
      }
      return new Settings(config.string("nightly.job"), config.string("nightly.source"),
          new OutputTables(config.string("nightly.output")), precision, asOf, NightlyJob.zone(config));
    }

    String runKey(ModelSpec model, LocalDate date) {
      return job + ":" + model.modelId() + ":" + date;
    }

    String newRunId(LocalDate date) {
      return job + "-" + date + "-" + UUID.randomUUID().toString().substring(0, 8);
    }
  }

  private final SparkSession spark;
  private final JouleConfig config;
  private final Clock clock;

  public NightlyJob(SparkSession spark, JouleConfig config) {
    this(spark, config, Clock.systemUTC());
  }

  /** {@code clock}: what "now" is when deciding whether a night has ended (tests fix it). */
  public NightlyJob(SparkSession spark, JouleConfig config, Clock clock) {
    this.spark = spark;
    this.config = config;
    this.clock = clock;
  }

  /**
   * {@code joule backfill}: the nights from {@code from} to {@code to} in order, each as of the
   * end of its date. Nights that have not ended yet are refused before any night runs, unless
   * {@code allowUnfinished}; committed nights are skipped before their source is read.
   */
  public List<Result> backfill(LocalDate from, LocalDate to, boolean allowUnfinished, Consumer<Result> each) {
    checkBackfill(config, clock, from, to, allowUnfinished);
    NightlyJob job = new NightlyJob(spark, config.with("nightly.as-of", "end-of-date"), clock);
    List<Result> results = new ArrayList<>();
    for (LocalDate d = from; !d.isAfter(to); d = d.plusDays(1)) {
      Result r = job.run(new Request(d, false, false, allowUnfinished));
      results.add(r);
      each.accept(r);
    }
    return results;
  }

  /**
   * A backfill's range, checked before Spark starts: {@code to} not before {@code from}, and,
   * unless {@code allowUnfinished}, every night ended by {@code clock}'s now (in
   * {@code nightly.time-zone}).
   */
  public static void checkBackfill(JouleConfig config, Clock clock, LocalDate from, LocalDate to,
      boolean allowUnfinished) {
    if (to.isBefore(from)) {
      throw JouleException.usage("--to " + to + " is before --from " + from);
    }
    ZoneId zone = zone(config);
    Instant now = clock.instant();
    if (!allowUnfinished && endOf(to, zone).isAfter(now)) {
      LocalDate d = from;
      while (!endOf(d, zone).isAfter(now)) {
        d = d.plusDays(1);
      }
      throw JouleException.usage("backfill " + from + ".." + to + ": " + (d.equals(to) ? "night " + to + " has"
          : "the nights from " + d + " on have") + " not ended yet (" + d + " ends at " + endOf(d, zone) + " " + zone
          + ", now is " + now + "), and a backfill reads each night as of the end of its date. "
          + (d.equals(from) ? "Pass" : "End the range at " + d.minusDays(1) + ", or pass")
          + " --allow-unfinished to score them now, as of the latest source version");
    }
  }

  /**
   * One night: on the driver alone where {@code nightly.engine = auto} and {@link DriverNight}
   * takes it, else with Spark ({@link #runOnSpark}).
   */
  public Result run(Request req) {
    if (Engine.setting(config) == Engine.AUTO) {
      try {
        return new DriverNight(config, clock, dev.joule.jobs.config.DriverSettings.of(spark),
            DriverTableReader.engine(spark), DriverNight.rollbackWith(spark)).run(req);
      } catch (DriverNight.NotHere e) {
        LOG.info("night {}: read with Spark: {}", req.date(), e.getMessage());
      }
    }
    return runOnSpark(req);
  }

  /** One night, read and scored by Spark's tasks, whatever {@code nightly.engine} says. */
  public Result runOnSpark(Request req) {
    long wall0 = System.nanoTime();
    long proc0 = Scoring.processCpuNanos();
    int runsBefore = EnergySummary.startRun();
    Settings settings = Settings.of(config);
    String job = settings.job();
    String source = settings.source();
    OutputTables out = settings.out();
    Precision precision = settings.precision();
    String asOf = settings.asOf();
    ZoneId zone = settings.zone();
    ModelSpec model = model();
    String runKey = settings.runKey(model, req.date());
    String runId = settings.newRunId(req.date());

    // Before any work: an output path holding a user's files is refused, and what a crashed run
    // left on this output is undone (a killed attempt of this very night included).
    if (!req.dryRun()) {
      out.requireWritable(spark);
      out.recover(spark, config.duration("recovery.grace"));
    }
    // A committed night is skipped before anything else: its source may no longer have the
    // version it read (history cleaned), or never had one before the end of its date (a night
    // committed as of latest).
    SparkJobProfile.step("read runs");
    // The log and small tables, read without Spark jobs; its engine (one copy of the session's
    // Hadoop configuration) serves every driver read of a log this night.
    DriverTableReader reader = DriverTableReader.of(spark);
    Prior prior = prior(reader, out.runs(), runKey, job, model.modelId());
    Row committed = prior.committed();
    if (committed != null && !req.full()) {
      return alreadyCommitted(runKey, committed, Engine.SPARK);
    }
    if (!req.allowUnfinished()) {
      refuseUnfinished(req.date(), asOf, zone, clock);
    }
    // A text source: first embed the rows whose text changed into the source the night scores.
    TextNight.Result text = config.string("nightly.text.source").isEmpty() ? null
        : new TextNight(spark, config).run(job, runKey, source, out, req.dryRun());

    SparkJobProfile.step("pin source");
    DeltaIO.Pinned latest = DeltaIO.readPinned(spark, reader.engine(), source, java.util.OptionalLong.empty(),
        "nightly.source");
    long sourceTo = latest.version();
    if (asOf.equals("end-of-date")) {
      sourceTo = versionAtEndOf(source, req.date(), zone);
    }
    DeltaIO.Pinned pinned = sourceTo == latest.version() ? latest
        : DeltaIO.readPinned(spark, reader.engine(), source, java.util.OptionalLong.of(sourceTo), "nightly.source");
    Row last = prior.last();

    // Decide what to read.
    String fullReason = null;
    long from = last == null ? -1 : last.<Long>getAs("input_version");
    if (req.full()) {
      fullReason = "--full";
    } else if (last == null) {
      fullReason = "first committed night for " + job + " / " + model.modelId();
    } else if (!model.modelVersion().equals(last.getAs("model_version"))) {
      fullReason = "new model version " + model.modelVersion() + " (last night scored "
          + last.getAs("model_version") + ")";
    } else if (from > sourceTo) {
      fullReason = "source version " + sourceTo + " is older than the last committed night's " + from;
    }
    SparkJobProfile.step("find changes");
    long findStart = System.nanoTime(); // the change feed's net change, the census, the row count
    String what = "night " + runKey + " (rows of " + source + ")"; // the night's input, as errors name it
    IdCensus.Limits limits = IdCensus.Limits.of(config);
    Scoring.Prepared prep = Scoring.prepare(config, pinned, model, precision, Scoring.passthrough(config));
    Dataset<Row> upserts = null;
    Dataset<Row> deletes = null; // a single column: id
    Dataset<Row> changeCache = null;
    OptionalLong changeRows = OptionalLong.empty(); // known only for an unchanged source: none
    IdCensus counted = null; // the net change's census, where the driver took it
    org.apache.spark.broadcast.Broadcast<?> winners = null;
    String scanMode;
    Scoring.Sink sink = null;
    java.util.Set<String> committedFiles = new java.util.HashSet<>();
    // From here on, what the night holds on the cluster (the changes' cache, the winners'
    // broadcast, the deleted ids' cache) and the files it wrote are released however it ends.
    try {
      if (fullReason == null && from == sourceTo) {
        scanMode = "none";
        changeRows = OptionalLong.of(0);
        upserts = pinned.data().limit(0);
        deletes = prep.select(pinned.data()).select("id").limit(0);
        LOG.info("night {}: source unchanged since version {}", runKey, from);
      } else if (fullReason == null) {
        boolean cdf = changeFeedOn(source);
        Changes changes = cdf ? changeFeed(source, from + 1, sourceTo, prep, limits, what)
            : history(source, from + 1, sourceTo, prep, pinned);
        if (changes.reason != null) {
          fullReason = changes.reason;
        }
        upserts = changes.upserts;
        deletes = changes.deletes;
        changeCache = changes.cached;
        counted = changes.census;
        winners = changes.winners;
        scanMode = fullReason != null ? "full" : cdf ? "cdf" : "history";
        if (scanMode.equals("history")) {
          LOG.info("night {}: the source has no change data feed; reading changes from its history (data files "
              + "added and removed in versions {}..{})", runKey, from + 1, sourceTo);
        }
      } else {
        scanMode = "full";
        upserts = null;
        deletes = null;
      }
      if (fullReason != null) {
        LOG.warn("night {}: FULL SCAN of {} at version {}: {}", runKey, source, sourceTo, fullReason);
        upserts = pinned.data();
        deletes = DeltaIO.exists(spark, out.predictions())
            ? spark.read().format("delta").load(out.predictions())
                .filter(col("model_id").equalTo(model.modelId()))
                .select("id").except(prep.select(pinned.data()).select("id"))
            : prep.select(pinned.data()).select("id").limit(0);
      } else if (scanMode.equals("cdf")) {
        LOG.info("night {}: reading changes of {} from the change data feed, versions {}..{}",
            runKey, source, from + 1, sourceTo);
      }

      Map<String, Long> phases = new LinkedHashMap<>();
      long t;
      // Counts the night's rows; every row of an id found more than once among them is rejected.
      // An incremental night's deleted ids (few) come back in the same job, for a commit that
      // marks their rows. A full night's are counted only: its commit replaces the model's rows
      // whole, or collects them then.
      SparkJobProfile.step("id census");
      IdCensus census = counted != null ? counted
          : fullReason == null ? IdCensus.withDeletes(prep.select(upserts), deletes, changeRows, limits, what)
          : IdCensus.of(prep.select(upserts), pinned.rows(), limits, what);
      long rowsIn = census.rows();
      Scoring.Prepared night = prep.withDuplicates(census.duplicates());
      java.util.Set<Object> deletedIds = census.deleted();
      if (deletedIds == null) {
        SparkJobProfile.step("deleted ids");
        deletes = deletes.cache();
      }
      long deleted = deletedIds != null ? deletedIds.size() : deletes.count();
      SparkJobProfile.step("count source");
      // Counted when Kernel listed the pinned source's files; else from the log, else by a scan
      // (files without row counts).
      OptionalLong listed = pinned.rows();
      long sourceRows = (listed.isPresent() ? listed
          : reader.rowCount(DeltaIO.qualified(spark, source), pinned.version()))
          .orElseGet(() -> pinned.data().count());
      phases.put("find changes", System.nanoTime() - findStart);
      Dataset<Row> changed = upserts;
      Timestamp at = Timestamp.from(Instant.now());
      // A night that may commit writes its rows once, straight into the tables' data files, and
      // commits them after reconciling from the tasks' counters (a dry run stages them instead).
      // An incremental night's tasks return the ids they scored: its commit marks those ids'
      // earlier rows. A full night replaces the model's rows whole.
      boolean keepIds = fullReason == null;
      t = System.nanoTime();
      // The quality gate may fail the night (exit 4) or score it again at a higher precision.
      SparkJobProfile.step("scoring");
      QualityGate.Gated gated = QualityGate.stage(spark, config, pinned, night, pr -> pr.select(changed), rowsIn,
          sourceRows, runId, "nightly", (pr, attempt) -> req.dryRun()
              ? new Scoring.Staging(out.staging(runId + attempt))
              : new Scoring.TableFolders(out.predictions(), out.rejects(),
                  Scoring.runColumns(runId, model, pr, at).forNight(runKey, keepIds), runId + attempt));
      sink = gated.sink();
      Scoring.Staged st = gated.staged();
      Scoring.Prepared used = gated.prep();
      phases.put("score", System.nanoTime() - t);
      java.util.function.Function<Boolean, ScoreResult> resultNow = c -> scoreResult(runId, source, pinned.version(),
          out, gated, rowsIn, proc0, runsBefore, wall0, c);
      refuseAllRejected(config, runKey, rowsIn, st);
      if (req.dryRun()) {
        return new Result(runKey, runId, "dry_run", scanMode, fullReason, from, sourceTo, sourceRows, rowsIn,
            st.scored(), st.rejected(), deleted, resultNow.apply(false), phases, text);
      }
      pauseForTests(config, "testing.pause-before-commit-ms");
      dev.joule.jobs.console.ConsoleProgress.phase("commit");
      // A run of this night that committed while this one scored wins: write nothing. The runs
      // table is queried again only if it has a commit since it was read at the start.
      Row meanwhile = prior.changedSince(spark, out.runs()) ? committedRun(reader, out.runs(), runKey, -1) : null;
      if (meanwhile != null && !req.full()) {
        throw new JouleException(JouleException.CONFLICT, "run " + meanwhile.getAs("run_id") + " committed night "
            + runKey + " while this one was scoring; nothing of this run was written");
      }
      pauseForTests(config, "testing.pause-after-check-ms");
      TableCommit commit = out.commit(spark, runId, reader.engine());
      String haltAfter = config.string("testing.halt-after-table");
      String failAfter = config.string("testing.fail-after-table");
      ScoreResult result;
      try {
        t = System.nanoTime();
        SparkJobProfile.step("commit predictions");
        commitPredictions(commit, out.predictions(), st, deletes, deletedIds, model, used, runId, committedFiles);
        phases.put("merge predictions", System.nanoTime() - t);
        ScoreJob.failIf(failAfter, haltAfter, "predictions");
        t = System.nanoTime();
        // Most nights reject nothing: write rejects only if there are some, or if the committed
        // night this --full replaces, or an attempt of this night that recovery has not undone
        // yet (younger than its grace), may have left some.
        SparkJobProfile.step("commit rejects");
        String attemptPrefix = runId.substring(0, runId.length() - 8);
        java.time.Duration grace = config.duration("recovery.grace");
        List<TaskOutput.WrittenFile> rejectFiles = st.filesOf(PartitionFiles.REJECTS);
        if (!rejectFiles.isEmpty() || ((committed != null
            || RunRecovery.recentAttempt(spark, out.rejects(), attemptPrefix, runId, grace))
            && hasRows(out.rejects(), runKey))) {
          Map<String, String> constants = new LinkedHashMap<>();
          constants.put("run_id", runId);
          constants.put("model_id", model.modelId());
          constants.put("kernel", used.kernel().displayName());
          constants.put("run_key", runKey);
          commit.addFiles(out.rejects(), ((Scoring.TableFolders) sink).columns().rejectsSchema(), rejectFiles,
              Map.of("run_key", runKey), constants);
          rejectFiles.forEach(f -> committedFiles.add(UncommittedFiles.key(out.rejects(), f.name())));
        }
        ScoreJob.failIf(failAfter, haltAfter, "rejects");
        // Driver-written commits (no Spark job). This key's rows are replaced where a committed
        // night (--full) or an attempt not yet undone may have left some.
        Map<String, String> sameKey = committed != null
            || RunRecovery.recentAttempt(spark, out.energyLog(), attemptPrefix, runId, grace)
            ? Map.of("run_key", runKey) : null;
        SparkJobProfile.step("commit energy_log");
        commit.addRows(out.energyLog(), RunRecord.KEYED_ENERGY_SCHEMA, RunRecord.keyedEnergyRows(st.energyRows(),
            runKey), sameKey, List.of("run_id", "job", "run_key"), TableCommit.Guard.NONE);
        ScoreJob.failIf(failAfter, haltAfter, "energy_log");
        result = resultNow.apply(true);
        SparkJobProfile.step("commit runs");
        Row run = new RunRecord(job, runKey, result, Timestamp.from(Instant.now()), from, deleted, sourceRows, scanMode,
            fullReason,
            describeSource(scanMode, fullReason, from, sourceTo)).toRow(RunRecord.COMMITTED);
        // Exactly once: inside the runs commit's transaction, the runs table is what was checked,
        // or it is checked again at the version the commit builds on; any commit after that
        // version fails this one, and the retry checks again.
        String replacedRun = committed == null ? null : committed.getAs("run_id");
        commit.addRows(out.runs(), RunRecord.SCHEMA, List.of(run),
            committed == null ? null : Map.of("run_key", runKey, "status", RunRecord.COMMITTED),
            RunRecord.STATS_COLUMNS, readVersion -> {
              if (readVersion >= 0 && readVersion != prior.runsVersion()) {
                Row other = committedRun(reader, out.runs(), runKey, readVersion);
                if (other != null && !other.<String>getAs("run_id").equals(replacedRun)) {
                  throw new JouleException(JouleException.CONFLICT, "run " + other.getAs("run_id") + " committed night "
                      + runKey + " while this one was committing; this run's results were not recorded (rerun to check)");
                }
              }
            });
      } catch (Exception e) { // SparkException from a failed write is checked in Java terms
        commit.rollback();
        JouleException conflict = conflict(e, runKey);
        if (conflict != null) {
          throw conflict;
        }
        throw e;
      } catch (Error e) { // out of memory, a full disk (FSError): undo too, then fail
        commit.rollback();
        throw e;
      }
      phases.put("rejects, energy_log, runs", System.nanoTime() - t);
      LOG.info("night {} committed: {} rows scored, {} rejected, {} deleted ({} scan of {} source rows)",
          runKey, st.scored(), st.rejected(), deleted, scanMode, sourceRows);
      return new Result(runKey, runId, "committed", scanMode, fullReason, from, sourceTo, sourceRows, rowsIn,
          st.scored(), st.rejected(), deleted, result, phases, text);
    } finally {
      if (deletes != null) {
        deletes.unpersist();
      }
      if (changeCache != null) {
        changeCache.unpersist();
      }
      if (winners != null) {
        winners.destroy();
      }
      if (sink != null) {
        // A dry run's staging folder; the files of failed task attempts, of a refused gate
        // attempt, or of a night that did not commit. Committed files stay.
        Scoring.discard(spark, sink, committedFiles);
      }
    }
  }

  /** The result of a night found committed already: nothing is done. */
  static Result alreadyCommitted(String runKey, Row committed, Engine engine) {
    LOG.info("night {} is already committed (run {}, source version {}): nothing to do; --full recomputes it",
        runKey, committed.getAs("run_id"), committed.<Long>getAs("input_version"));
    return new Result(runKey, committed.getAs("run_id"), "already_committed", committed.getAs("scan_mode"),
        committed.getAs("full_scan_reason"), committed.<Long>getAs("source_version_from"),
        committed.<Long>getAs("input_version"), 0, 0, 0, 0, 0, null, Map.of(), null, engine);
  }

  /**
   * A night's figures for its runs row and claim card; {@code proc0}, {@code wall0}: the process
   * CPU and the time at its start.
   */
  static ScoreResult scoreResult(String runId, String source, long sourceVersion, OutputTables out,
      QualityGate.Gated gated, long rowsIn, long proc0, int runsBefore, long wall0, boolean committed) {
    Scoring.Prepared used = gated.prep();
    Scoring.Staged st = gated.staged();
    ModelSpec model = used.model();
    return new ScoreResult(runId, source, sourceVersion, out.root(), model.modelId(), model.modelVersion(),
        used.kernel().displayName(), used.info().id(), used.kernel().precision().label(), used.kernel().dim(),
        used.kernel().width(), rowsIn, st.scored(), st.rejected(), st.reasons(),
        EnergySummary.of(st.energyRows(), Math.max(0, Scoring.processCpuNanos() - proc0 - st.taskCpuNanos()),
            st.energy().powerProfiles(), runsBefore), System.nanoTime() - wall0, committed, gated.outcome());
  }

  /** A night whose every row was rejected (a model of another dimension under the same id, say) publishes nothing. */
  static void refuseAllRejected(JouleConfig config, String runKey, long rowsIn, Scoring.Staged st) {
    if (st.scored() == 0 && rowsIn > 0 && !config.bool("score.allow-all-rejected")) {
      throw JouleException.input(String.format(java.util.Locale.ROOT, "night %s: all %,d changed rows rejected "
          + "(%s, e.g. %s); nothing committed (joule.score.allow-all-rejected = true commits such a night)",
          runKey, rowsIn, st.reasons(), st.examples().values().stream().findFirst().orElse("")));
    }
  }

  /**
   * A model file ({@code nightly.model}) or, for top-k, a reference Delta table
   * ({@code nightly.reference}, with the {@code topk.*} settings). The reference set's version is
   * its model version, so a changed reference table rescores every row once, as a new model does.
   */
  private ModelSpec model() {
    String file = config.string("nightly.model");
    String reference = config.string("nightly.reference");
    if (file.isEmpty() == reference.isEmpty()) {
      throw JouleException.usage("set exactly one of joule.nightly.model (a model file) and joule.nightly.reference "
          + "(a Delta table of reference embeddings, for top-k)");
    }
    return file.isEmpty() ? ReferenceSet.load(spark, config, reference) : LinearModelFile.readAny(Path.of(file));
  }

  /**
   * Upserts and deletes of a version range; {@code cached} is released when the night ends;
   * {@code census} and {@code winners}: the net change, where the driver took it.
   */
  private record Changes(Dataset<Row> upserts, Dataset<Row> deletes, String reason, Dataset<Row> cached,
      IdCensus census, org.apache.spark.broadcast.Broadcast<?> winners) {

    Changes(Dataset<Row> upserts, Dataset<Row> deletes, String reason, Dataset<Row> cached) {
      this(upserts, deletes, reason, cached, null, null);
    }
  }

  /**
   * The net change per id over a range of the change data feed. Up to {@code score.driver-census-rows}
   * changes, the driver finds each id's winning change from the changes' keys (a column-pruned
   * scan, collected with a limit) and the night reads the feed once more, keeping the winners'
   * rows: no embedding is shuffled or cached. Larger ranges take a window over the feed's rows.
   */
  private Changes changeFeed(String source, long start, long end, Scoring.Prepared prep, IdCensus.Limits limits,
      String what) {
    Dataset<Row> cached = null; // the window's cache, released here if the feed fails
    try {
      Dataset<Row> feed = dev.joule.jobs.delta.ChangeFeedRead.of(spark, source, start, end)
          .filter(col("_change_type").isin("insert", "update_postimage", "delete"));
      Column isDelete = col("_change_type").equalTo("delete");
      Dataset<Row> keys = feed.select(prep.idExpr().as("id"), col("_commit_version"), isDelete.as("d"));
      // One more key than the driver takes, at most, each key read once: a larger range stops
      // early and takes the window. Spark's limit scans the feed's partitions a few at a time
      // (1, then 4, 16, ... in turn), so a feed of many partitions under the limit runs a few
      // more, smaller jobs. Fails here, not mid-commit, if the feed is unreadable.
      int take = (int) Math.max(0, Math.min(Integer.MAX_VALUE - 1, limits.driverRows()));
      List<Row> collected = keys.limit(take + 1).collectAsList();
      if (collected.size() <= take) {
        NetChange net = new NetChange();
        for (Row r : collected) {
          net.add(r.get(0), r.getLong(1), r.getBoolean(2));
        }
        collected = null; // the keys are in the net change now
        IdCensus census = IdCensus.counted(net.rows(), net.repeated(), net.deleted(), limits, what);
        org.apache.spark.broadcast.Broadcast<Map<Object, NetChange.Winner>> winners = spark.sparkContext()
            .broadcast(net.winners(), scala.reflect.ClassTag$.MODULE$.apply(Map.class));
        Column kept = org.apache.spark.sql.functions.udf(
            (org.apache.spark.sql.api.java.UDF3<Object, Long, Boolean, Boolean>) (id, version, delete) ->
                NetChange.keeps(winners.value(), id, version, delete),
            org.apache.spark.sql.types.DataTypes.BooleanType).apply(prep.idExpr(), col("_commit_version"), isDelete);
        Dataset<Row> upserts = feed.filter(kept.and(org.apache.spark.sql.functions.not(isDelete)));
        Dataset<Row> deletes = prep.select(feed.filter(kept.and(isDelete))).select("id");
        return new Changes(upserts, deletes, null, null, census, winners);
      }
      // The net change per id: its last change in the range (a delete after an update wins).
      // Within one version a row written wins over a delete: a commit that rewrites files (an
      // overwrite, a replaceWhere) deletes an id's old row and inserts its new one, and the id
      // exists after it. rank, not row_number: two rows of one id in the last version both stay,
      // and the census rejects them both rather than picking one at random. Rows without an id
      // are not one id: each is kept, and rejected (null_id) by the scoring pass.
      Dataset<Row> latest = feed.withColumn("_joule_rank", rank().over(
              Window.partitionBy(prep.idExpr()).orderBy(col("_commit_version").desc(),
                  org.apache.spark.sql.functions.when(isDelete, 1).otherwise(0))))
          .filter(col("_joule_rank").equalTo(1).or(prep.idExpr().isNull().and(org.apache.spark.sql.functions.not(
              isDelete)))).cache();
      cached = latest;
      latest.count();
      Dataset<Row> upserts = latest.filter(col("_change_type").notEqual("delete"));
      Dataset<Row> deletes = prep.select(latest.filter(col("_change_type").equalTo("delete"))).select("id");
      return new Changes(upserts, deletes, null, latest);
    } catch (JouleException e) { // the census refused the night (too many duplicated ids)
      throw e;
    } catch (Exception e) { // SparkException is checked in Java but thrown by Scala code
      if (cached != null) { // the night scans the source in full instead
        cached.unpersist();
      }
      String msg = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
      String reason = msg.contains("enableChangeDataFeed") || msg.toLowerCase().contains("change data")
          ? "the change data feed does not cover versions " + start + ".." + end
              + " (off, or its files were removed): " + msg
          : "the change data feed could not be read: " + msg;
      return new Changes(null, null, reason, null);
    }
  }

  private boolean changeFeedOn(String source) {
    return "true".equalsIgnoreCase(DeltaIO.properties(spark, source).get("delta.enableChangeDataFeed"));
  }

  /**
   * Changes from the data files the range added and removed. Copy-on-write rewrites carry
   * unchanged rows along, so rows also present, identical, in a removed file are dropped: what
   * is left is exactly the inserted and updated rows. Deleted ids: in removed files, in no added one.
   */
  private Changes history(String source, long start, long end, Scoring.Prepared prep, DeltaIO.Pinned pinned) {
    HistoryChanges h = HistoryChanges.read(spark, source, start, end);
    if (h.reason != null) {
      return new Changes(null, null, h.reason, null);
    }
    var schema = pinned.data().schema();
    Dataset<Row> added = h.added.isEmpty() ? pinned.data().limit(0)
        : spark.read().schema(schema).parquet(h.added.toArray(String[]::new));
    Dataset<Row> removed = h.removed.isEmpty() ? pinned.data().limit(0)
        : spark.read().schema(schema).parquet(h.removed.toArray(String[]::new));
    Dataset<Row> upserts = added.exceptAll(removed); // both read with the table's schema
    Dataset<Row> deletes = prep.select(removed).select("id").except(prep.select(added).select("id"));
    return new Changes(upserts, deletes, null, null);
  }

  /**
   * Commits the prediction files the night's tasks wrote. First night: they create the table.
   * Then, in one commit, they are added and the rows they replace (their ids' earlier rows, and
   * the deleted ids' rows) are marked in deletion vectors; a full night that rejected nothing
   * replaces the model's rows whole. Where deletion vectors cannot be used, a MERGE reads the
   * files as its source (they are then discarded, uncommitted).
   */
  private void commitPredictions(TableCommit commit, String path, Scoring.Staged st, Dataset<Row> deletes,
      java.util.Set<Object> deletedIds, ModelSpec model, Scoring.Prepared prep, String runId,
      java.util.Set<String> committedFiles) {
    List<TaskOutput.WrittenFile> files = st.filesOf(PartitionFiles.PREDICTIONS);
    StructType schema = ((Scoring.TableFolders) st.sink()).columns().predictionsSchema();
    Map<String, String> constants = new LinkedHashMap<>();
    constants.put("model_id", model.modelId());
    constants.put("model_version", model.modelVersion());
    constants.put("kernel", prep.kernel().displayName());
    constants.put("run_id", runId);
    if (!DeltaIO.exists(spark, path)) {
      // First night: nothing to replace. Deletion vectors let later nights mark changed rows
      // instead of rewriting every file that holds one.
      commit.addFiles(path, schema, files, null, constants, Map.of("delta.enableDeletionVectors",
          String.valueOf(config.bool("nightly.deletion-vectors"))));
      files.forEach(f -> committedFiles.add(UncommittedFiles.key(path, f.name())));
      return;
    }
    boolean tombstone = config.string("nightly.deletes").equals("tombstone");
    String noUpsert = tombstone ? "nightly.deletes = tombstone" : commit.cannotUpsertFiles(path);
    if (noUpsert == null) {
      boolean whole = deletedIds == null && st.rejected() == 0;
      try {
        if (whole) {
          commit.addFiles(path, schema, files, Map.of("model_id", model.modelId()), constants);
          LOG.info("predictions: {} rows written, replacing the model's earlier rows", st.scored());
        } else {
          // The tasks' ids; a full night that rejected rows kept none, so its files' ids are read.
          java.util.Set<Object> keys = new java.util.HashSet<>(st.ids() != null ? st.ids()
              : st.ofKind(StagedRows.PREDICTION).select("id").collectAsList().stream().map(r -> r.get(0)).toList());
          if (deletedIds != null) {
            keys.addAll(deletedIds);
          } else {
            deletes.collectAsList().forEach(r -> keys.add(r.get(0)));
          }
          long marked = commit.upsertFiles(path, schema, files, "id", keys, Map.of("model_id", model.modelId()),
              constants, config.longValue("nightly.driver-key-scan-rows"));
          LOG.info("predictions: {} rows written, {} earlier rows replaced or deleted (deletion vectors)",
              st.scored(), marked);
        }
        files.forEach(f -> committedFiles.add(UncommittedFiles.key(path, f.name())));
        return;
      } catch (TableCommit.NoRowCounts e) {
        LOG.info("predictions: {}; merging instead", e.getMessage());
      }
      noUpsert = "a file without row counts";
    }
    LOG.info("predictions: MERGE ({})", noUpsert);
    Dataset<Row> upserts = st.ofKind(StagedRows.PREDICTION);
    Dataset<Row> src = upserts.withColumn("_op", lit("upsert")).unionByName(
        deletes.select(col("id"), lit(model.modelId()).as("model_id"), lit("delete").as("_op")), true);
    Map<String, String> set = new LinkedHashMap<>();
    for (String c : List.of("model_version", "kernel", "label", "score", "scores", "neighbors", "run_id", "scored_at", "tombstone")) {
      set.put(c, "s." + c);
    }
    for (Scoring.Passthrough p : prep.passthrough()) {
      String q = "`" + p.as().replace("`", "``") + "`";
      set.put(q, "s." + q);
    }
    Map<String, String> insert = new LinkedHashMap<>(set);
    insert.put("id", "s.id");
    insert.put("model_id", "s.model_id");
    Map<String, String> stone = Map.of("tombstone", "true", "run_id", "'" + runId + "'",
        "scored_at", "current_timestamp()", "label", "NULL", "score", "NULL");
    commit.merge(path, t -> {
      // withSchemaEvolution: a predictions table from before the tombstone column gains it.
      var m = t.as("t").merge(src.as("s"), "t.id = s.id AND t.model_id = s.model_id").withSchemaEvolution();
      m = tombstone ? m.whenMatched("s._op = 'delete'").updateExpr(stone) : m.whenMatched("s._op = 'delete'").delete();
      m.whenMatched("s._op = 'upsert'").updateExpr(set).whenNotMatched("s._op = 'upsert'").insertExpr(insert).execute();
    });
  }

  private boolean hasRows(String table, String runKey) {
    return DeltaIO.exists(spark, table)
        && !spark.read().format("delta").load(table).filter(col("run_key").equalTo(runKey)).limit(1).isEmpty();
  }

  /** The committed row of {@code runKey} at {@code version} of the runs table (-1: latest), or null. */
  private Row committedRun(DriverTableReader reader, String runs, String runKey, long version) {
    if (!DeltaIO.exists(spark, runs)) {
      return null;
    }
    long v = version >= 0 ? version : DeltaIO.latestVersion(spark, runs);
    return committedRun(runRows(reader, runs, v), runKey);
  }

  /** The committed row of {@code runKey} among a runs table's rows, or null. */
  static Row committedRun(List<Row> runs, String runKey) {
    return runs.stream().filter(r -> runKey.equals(r.getAs("run_key")) && "committed".equals(r.getAs("status")))
        .findFirst().orElse(null);
  }

  /**
   * The runs table's rows at {@code version}: read on the driver (a runs table holds a row per
   * run), or with Spark where it has columns the driver read does not take.
   */
  private List<Row> runRows(DriverTableReader reader, String runs, long version) {
    List<Row> rows = reader.rows(DeltaIO.qualified(spark, runs), version);
    return rows != null ? rows
        : spark.read().format("delta").option("versionAsOf", version).load(runs).collectAsList();
  }

  /**
   * This night's committed run, if any, and the last committed night before it of this job and
   * model, as of {@code runsVersion} of the runs table (-1: no table).
   */
  record Prior(Row committed, Row last, long runsVersion) {
    /** Whether the runs table has a commit after the one these were read at (a log listing, no job). */
    boolean changedSince(SparkSession spark, String runs) {
      return DeltaIO.exists(spark, runs) && DeltaIO.latestVersion(spark, runs) != runsVersion;
    }

    /** From the runs table's rows at {@code version}. */
    static Prior of(List<Row> rows, long version, String runKey, String job, String modelId) {
      Row committed = null;
      Row last = null;
      for (Row r : rows) {
        if (!"committed".equals(r.getAs("status"))
            || !(runKey.equals(r.getAs("run_key")) || job.equals(r.getAs("job")) && modelId.equals(r.getAs("model_id")))) {
          continue;
        }
        String key = r.getAs("run_key");
        if (runKey.equals(key)) {
          committed = r;
        } else if (key != null && (last == null || LATEST_FIRST.compare(r, last) < 0)) {
          last = r;
        }
      }
      return new Prior(committed, last, version);
    }
  }

  /** One read of the runs table, on the driver, for both. */
  private Prior prior(DriverTableReader reader, String runs, String runKey, String job, String modelId) {
    if (!DeltaIO.exists(spark, runs)) {
      return new Prior(null, null, -1);
    }
    long version = DeltaIO.latestVersion(spark, runs);
    return Prior.of(runRows(reader, runs, version), version, runKey, job, modelId);
  }

  /** The newest night first: by source version, then by finish time (nulls last, as Spark's desc). */
  private static final java.util.Comparator<Row> LATEST_FIRST = java.util.Comparator
      .comparing((Row r) -> r.<Long>getAs("input_version"), java.util.Comparator.nullsFirst(java.util.Comparator.<Long>naturalOrder()))
      .thenComparing(r -> r.<Timestamp>getAs("finished_at"), java.util.Comparator.nullsFirst(java.util.Comparator.<Timestamp>naturalOrder()))
      .reversed();

  /** The last source version committed before the end of {@code date} (in {@code zone}). */
  private long versionAtEndOf(String source, LocalDate date, ZoneId zone) {
    Instant endInstant = endOf(date, zone);
    Timestamp end = Timestamp.from(endInstant);
    Dataset<Row> history = DeltaTable.forPath(spark, source).history();
    List<Row> r = history.filter(col("timestamp").lt(end))
        .orderBy(col("version").desc()).select("version").limit(1).collectAsList();
    if (r.isEmpty()) {
      List<Row> first = history.orderBy(col("version").asc()).select("version", "timestamp").limit(1).collectAsList();
      String since = first.isEmpty() ? "" : "; its oldest version in the log, " + first.get(0).getLong(0)
          + ", was committed at " + first.get(0).getTimestamp(1).toInstant() + ", so the first night it can be read "
          + "as of the end of is " + LocalDate.ofInstant(first.get(0).getTimestamp(1).toInstant(), zone);
      throw JouleException.input("source " + source + " has no version before the end of " + date + " (" + endInstant
          + ")" + since);
    }
    return r.get(0).getLong(0);
  }

  /** The instant {@code date} ends in {@code zone}: the start of the next day. */
  static Instant endOf(LocalDate date, ZoneId zone) {
    return date.plusDays(1).atStartOfDay(zone).toInstant();
  }

  /** {@code joule.nightly.time-zone}: the zone in which a night's date ends. */
  static ZoneId zone(JouleConfig config) {
    String z = config.string("nightly.time-zone");
    try {
      return ZoneId.of(z);
    } catch (java.time.DateTimeException e) {
      throw JouleException.usage("nightly.time-zone: not a time zone: '" + z + "' (e.g. UTC, Europe/Berlin)");
    }
  }

  /**
   * As of end of date, a night is refused until its date has ended: read earlier, it would miss
   * the rest of the day's changes and still be committed as that date. As of latest, the night's
   * date only names it, but a date after today is refused as a likely mistake.
   */
  static void refuseUnfinished(LocalDate date, String asOf, ZoneId zone, Clock clock) {
    Instant now = clock.instant();
    if (asOf.equals("end-of-date") && endOf(date, zone).isAfter(now)) {
      throw JouleException.usage("night " + date + " has not ended yet (it ends at " + endOf(date, zone) + " " + zone
          + ", now is " + now + "); read as of the end of its date, it would miss the rest of the day's changes. "
          + "Run it after it has ended, or pass --allow-unfinished to score it now as of the latest source version");
    }
    LocalDate today = LocalDate.ofInstant(now, zone);
    if (asOf.equals("latest") && date.isAfter(today)) {
      throw JouleException.usage("night " + date + " is in the future (today is " + today + " " + zone
          + "); pass --allow-unfinished to score it anyway");
    }
  }

  /**
   * What of the source a night read, in words: {@code first night: the whole source up to
   * version N}, {@code no changes since source version N}, {@code the changes in source versions
   * A..B (...)} or a full scan with its reason.
   */
  public static String describeSource(String scanMode, String fullScanReason, long from, long to) {
    if (from < 0) {
      return "first night: the whole source up to version " + to;
    }
    return switch (String.valueOf(scanMode)) {
      case "none" -> "no changes since source version " + from;
      case "full" -> "the whole source up to version " + to + " (FULL SCAN"
          + (fullScanReason == null ? "" : ": " + fullScanReason) + ")";
      default -> "the changes in source versions " + (from + 1) + ".." + to + " (since version " + from + ", from the "
          + ("cdf".equals(scanMode) ? "change data feed" : "table history") + ")";
    };
  }

  /** The Joule error or the concurrent-writer conflict behind {@code e}, or null. */
  static JouleException conflict(Exception e, String runKey) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof JouleException) {
        return (JouleException) t;
      }
      if (t.getClass().getName().startsWith("io.delta.exceptions.Concurrent")
          || t instanceof io.delta.exceptions.DeltaConcurrentModificationException) {
        return new JouleException(JouleException.CONFLICT, "another run wrote the output tables while night "
            + runKey + " was committing (" + t.getClass().getSimpleName() + "); nothing of this run was kept", e);
      }
    }
    return null;
  }

  /** Testing hook only: how many testing pauses have begun in this JVM (a test waits on it). */
  public static final java.util.concurrent.atomic.AtomicInteger TESTING_PAUSES =
      new java.util.concurrent.atomic.AtomicInteger();

  static void pauseForTests(JouleConfig config, String key) {
    long ms = config.integer(key);
    if (ms > 0) {
      TESTING_PAUSES.incrementAndGet();
      try {
        Thread.sleep(ms);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }


}
