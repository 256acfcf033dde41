package dev.joule.jobs.nightly;

import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.DriverSettings;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.delta.CommitTag;
import dev.joule.jobs.delta.CommitUndo;
import dev.joule.jobs.delta.DriverFile;
import dev.joule.jobs.delta.DriverParquetRows;
import dev.joule.jobs.delta.DriverTableReader;
import dev.joule.jobs.delta.KernelUpsert;
import dev.joule.jobs.delta.LogFileActions;
import dev.joule.jobs.delta.RunRecovery;
import dev.joule.jobs.delta.TableCommit;
import dev.joule.jobs.delta.UncommittedFiles;
import dev.joule.jobs.report.EnergySummary;
import dev.joule.jobs.score.IdCensus;
import dev.joule.jobs.score.OutputTables;
import dev.joule.jobs.score.QualityGate;
import dev.joule.jobs.score.RunRecord;
import dev.joule.jobs.score.Scoring;
import dev.joule.udfs.files.PartitionFiles;
import dev.joule.udfs.files.TaskOutput;
import io.delta.kernel.Snapshot;
import io.delta.kernel.TableManager;
import io.delta.kernel.engine.Engine;
import io.delta.kernel.internal.SnapshotImpl;
import java.io.IOException;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.vectorized.ColumnarBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A night read, scored and committed on the driver alone: no Spark job, and from the command line
 * no Spark session. Most nights change a small part of their source; for them Spark's start,
 * planning and jobs cost far more than the rows (bench/README.md). This night:
 * <ol>
 *   <li>reads the source's change range from its log with Delta Kernel ({@link LogFileActions}):
 *       each commit's change files, or the files an append-only commit added;
 *   <li>reads their keys ({@link DriverParquetRows}) and takes each id's net change
 *       ({@link NetChange}, the rule the Spark night's driver census uses);
 *   <li>reads the winners' rows and scores them on this thread as one partition
 *       ({@link Scoring#stageOnDriver}: the same scorer, rejects, energy record and gate sample
 *       as a Spark task), behind the quality gate;
 *   <li>commits with Kernel, exactly once per run key: predictions with the replaced rows marked
 *       in deletion vectors ({@link KernelUpsert}), then rejects and energy_log, then the runs row,
 *       which lands only if no other run committed the night meanwhile. A failure after the first
 *       commit undoes what landed ({@link Rollback}).
 * </ol>
 * A night it does not take ({@link NotHere}: a first or full night, a rewrite without change
 * files, a text source, top-k, more changes than {@code score.driver-census-rows}, ...) is
 * refused before anything is read or written, and runs with Spark.
 */
public final class DriverNight {

  private static final Logger LOG = LoggerFactory.getLogger(DriverNight.class);

  /**
   * Why this night is not one for the driver: it runs with Spark. Thrown before anything is
   * committed, and mostly before anything is read; what the night wrote by then is removed.
   */
  public static final class NotHere extends RuntimeException {
    NotHere(String why) {
      super(why, null, false, false);
    }
  }

  /** A commit that landed: the table, its version. */
  public record Landed(String table, long version) {}

  /** Undoes a failed night's commits, newest first (Delta Spark's {@link CommitUndo}). */
  @FunctionalInterface
  public interface Rollback {
    void undo(String runId, List<Landed> landed);
  }

  /** A rollback through {@code spark}. */
  public static Rollback rollbackWith(SparkSession spark) {
    return (runId, landed) -> undoAll(spark, runId, landed);
  }

  /**
   * A rollback that starts a Spark session only when a night must be undone (the command line's
   * driver night: most nights never need one).
   */
  public static Rollback rollbackStarting(java.util.function.Supplier<SparkSession> session) {
    return (runId, landed) -> undoAll(session.get(), runId, landed);
  }

  private static void undoAll(SparkSession spark, String runId, List<Landed> landed) {
    for (int i = landed.size() - 1; i >= 0; i--) {
      Landed l = landed.get(i);
      try {
        CommitUndo.Outcome o = CommitUndo.undo(spark, l.table(), l.version(), runId);
        LOG.warn("rolled back run {} on {}: {}", runId, l.table(), o.describe());
      } catch (RuntimeException e) {
        LOG.error("could not undo run {}'s commit {} on {}: {}", runId, l.version(), l.table(), e.toString());
      }
    }
  }

  private final JouleConfig config;
  private final Clock clock;
  private final DriverSettings settings;
  private final Engine engine;
  private final Rollback rollback;

  /**
   * @param settings the Hadoop and SQL settings files are read and written with
   * @param engine Delta Kernel's engine over {@code settings}' Hadoop configuration
   */
  public DriverNight(JouleConfig config, Clock clock, DriverSettings settings, Engine engine, Rollback rollback) {
    this.config = config;
    this.clock = clock;
    this.settings = settings;
    this.engine = engine;
    this.rollback = rollback;
  }

  /** A source file of the range: its version, and whether it is a change file (with {@code _change_type}). */
  private record FeedFile(String path, long version, boolean changeFile) {}

  /**
   * @throws NotHere where the night is not one for the driver, before anything is committed
   */
  public NightlyJob.Result run(NightlyJob.Request req) {
    long wall0 = System.nanoTime();
    long proc0 = Scoring.processCpuNanos();
    NightlyJob.Settings night = NightlyJob.Settings.of(config);
    refuseSettings(req);
    int runsBefore = EnergySummary.startRun();
    try {
      return run(req, night, wall0, proc0, runsBefore);
    } catch (NotHere e) {
      EnergySummary.abandonRun(); // the Spark night that follows is this JVM's run, warm or cold as it was
      throw e;
    }
  }

  private NightlyJob.Result run(NightlyJob.Request req, NightlyJob.Settings night, long wall0, long proc0,
      int runsBefore) {
    ModelSpec model = LinearModelFile.readAny(Path.of(config.string("nightly.model")));
    String runKey = night.runKey(model, req.date());
    String runId = night.newRunId(req.date());
    OutputTables out = night.out();
    org.apache.hadoop.conf.Configuration conf = settings.hadoop();
    String predictions = beforeAnyWrite("the output path", () -> qualified(out.predictions()));
    String rejects = qualified(out.rejects());
    String energyLog = qualified(out.energyLog());
    String runs = qualified(out.runs());
    String source = beforeAnyWrite("the source path", () -> qualified(night.source()));
    Map<String, Long> phases = new LinkedHashMap<>();

    beforeAnyWrite("the output folder's check", () -> {
      out.requireWritable(conf);
      return null;
    });
    List<RunRecovery.Orphan> orphans = beforeAnyWrite("recovery's read of the output tables' logs",
        () -> RunRecovery.orphans(RunRecovery.Logs.of(engine, conf), List.of(predictions, rejects, energyLog), runs,
            config.duration("recovery.grace")));
    if (!orphans.isEmpty()) {
      throw new NotHere("a dead run's commits are to be undone first (run " + orphans.get(0).runId() + " on "
          + orphans.get(0).table() + ")");
    }
    DriverTableReader reader = new DriverTableReader(engine, conf);
    NightlyJob.Prior prior = beforeAnyWrite("the runs table's read", () -> {
      long runsVersion = latestVersion(runs);
      return runsVersion < 0 ? new NightlyJob.Prior(null, null, -1)
          : NightlyJob.Prior.of(runRows(reader, runs, runsVersion), runsVersion, runKey, night.job(), model.modelId());
    });
    if (prior.committed() != null) {
      return NightlyJob.alreadyCommitted(runKey, prior.committed(), NightlyJob.Engine.DRIVER);
    }
    if (!req.allowUnfinished()) {
      NightlyJob.refuseUnfinished(req.date(), night.asOf(), night.zone(), clock);
    }
    Row last = prior.last();
    if (last == null) {
      throw new NotHere("the first committed night of " + night.job() + " / " + model.modelId() + " reads the whole "
          + "source");
    }
    if (!model.modelVersion().equals(last.getAs("model_version"))) {
      throw new NotHere("a new model version rescores the whole source");
    }
    String attemptPrefix = runId.substring(0, runId.length() - 8);
    java.time.Duration grace = config.duration("recovery.grace");
    RunRecovery.Logs logs = RunRecovery.Logs.of(engine, conf);
    for (String t : List.of(rejects, energyLog)) {
      if (beforeAnyWrite("the log of " + t, () -> RunRecovery.recentAttempt(logs, t, attemptPrefix, runId, grace))) {
        throw new NotHere("an attempt of this night may have left rows in " + t + " (younger than the grace)");
      }
    }

    long t = System.nanoTime();
    Snapshot snapshot;
    try {
      snapshot = TableManager.loadSnapshot(source).build(engine);
    } catch (RuntimeException e) {
      throw new NotHere("the source's log is not read by Delta Kernel here: " + e.getMessage());
    }
    long sourceTo = snapshot.getVersion();
    long from = last.<Long>getAs("input_version");
    if (from > sourceTo) {
      throw new NotHere("the source is older than the last committed night");
    }
    SnapshotImpl impl = (SnapshotImpl) snapshot;
    StructType schema = (StructType) DataType.fromJson(impl.getMetadata().getSchemaString());
    Map<String, String> properties = impl.getMetadata().getConfiguration();
    String idCol = config.string("score.id-col");
    String embCol = config.string("score.embedding-col");
    refuseSchema(schema, idCol, embCol, impl);
    boolean cdf = "true".equalsIgnoreCase(properties.get("delta.enableChangeDataFeed"));
    String scanMode = from == sourceTo ? "none" : cdf ? "cdf" : "history";
    List<FeedFile> feed = from == sourceTo ? List.of() : feedFiles(source, from + 1, sourceTo, cdf);
    long sourceRows = beforeAnyWrite("the source's row count", () -> reader.rowCount(source, sourceTo))
        .orElseThrow(() -> new NotHere("the source's files carry no row counts"));
    Timestamp at = Timestamp.from(Instant.now());
    String planned = "the changes of versions " + (from + 1) + ".." + sourceTo + ", read on the driver";
    var scales = dev.joule.jobs.embed.EmbedJob.dimensionScales(properties, night.source(), model.dim());
    java.util.function.Function<Precision, Scoring.Prepared> prepareAt = p -> Scoring.prepareOnDriver(config, schema,
        night.source(), planned, model, p, List.of(), scales);
    Scoring.Prepared prepared = prepareAt.apply(night.precision());
    dev.joule.udfs.files.RunColumns columns = Scoring.runColumns(runId, model, prepared, at).forNight(runKey, true);
    beforeAnyWrite("the output tables' logs", () -> {
      refuseTable(predictions, columns.predictionsSchema(), true);
      refuseTable(rejects, columns.rejectsSchema(), false);
      refuseTable(energyLog, RunRecord.KEYED_ENERGY_SCHEMA, false);
      refuseTable(runs, RunRecord.SCHEMA, false);
      return null;
    });

    // The keys: each id's net change over the range.
    IdCensus.Limits limits = IdCensus.Limits.of(config);
    NetChange net = new NetChange();
    StructType keyColumns = new StructType().add(idCol, DataTypes.LongType);
    long keysRead = 0;
    boolean[] withoutIds = new boolean[feed.size()]; // files with a written row without an id: read again
    for (int i = 0; i < feed.size(); i++) {
      FeedFile f = feed.get(i);
      // Before the file is read whole: more rows than the limit would not fit.
      if (keysRead + rowCount(f) > limits.driverRows()) {
        throw new NotHere("more than " + limits.driverRows() + " changes (score.driver-census-rows)");
      }
      StructType keyRead = f.changeFile() ? keyColumns.add("_change_type", DataTypes.StringType) : keyColumns;
      for (Object[] r : readFile(f, keyRead)) {
        String type = f.changeFile() ? (String) r[1] : "insert";
        if (!"insert".equals(type) && !"update_postimage".equals(type) && !"delete".equals(type)) {
          continue; // update_preimage
        }
        if (++keysRead > limits.driverRows()) {
          throw new NotHere("more than " + limits.driverRows() + " changes (score.driver-census-rows)");
        }
        boolean delete = "delete".equals(type);
        withoutIds[i] |= r[0] == null && !delete;
        net.add(r[0], f.version(), delete);
      }
    }
    String what = "night " + runKey + " (rows of " + night.source() + ")";
    IdCensus census = IdCensus.counted(net.rows(), net.repeated(), net.deleted(), limits, what);
    long rowsIn = census.rows();
    Set<Object> deletedIds = census.deleted();
    Map<Object, NetChange.Winner> winners = net.winners();
    phases.put("find changes", System.nanoTime() - t);
    LOG.info("night {}: {} changed rows and {} deleted ids in source versions {}..{} ({}), read on the driver",
        runKey, rowsIn, deletedIds.size(), from + 1, sourceTo, scanMode);

    // Scoring, behind the quality gate.
    t = System.nanoTime();
    Scoring.Prepared asked = prepared.withDuplicates(census.duplicates());
    StructType rowColumns = keyColumns.add(embCol, DataTypes.createArrayType(DataTypes.FloatType));
    Set<String> committedFiles = new HashSet<>();
    List<Scoring.Sink> sinks = new ArrayList<>();
    List<TaskOutput.WrittenFile> driverFiles = new ArrayList<>();
    try {
      QualityGate.Gated gated = QualityGate.stageOnDriver(config, asked, runId, prepareAt,
          (pr, attempt) -> {
            Scoring.Sink sink = new Scoring.TableFolders(predictions, rejects,
                Scoring.runColumns(runId, model, pr, at).forNight(runKey, true), runId + attempt);
            sinks.add(sink);
            return sink;
          },
          (pr, sink) -> {
            try (WinnerBatches batches = new WinnerBatches(feed, withoutIds, rowColumns, winners)) {
              return Scoring.stageOnDriver(config, pr, batches, new int[] {0, 1}, rowsIn, runId, "nightly",
                  (Scoring.TableFolders) sink, settings);
            }
          },
          sink -> discard(sink, Set.of()));
      Scoring.Staged st = gated.staged();
      Scoring.Prepared used = gated.prep();
      phases.put("score", System.nanoTime() - t);
      NightlyJob.refuseAllRejected(config, runKey, rowsIn, st);
      long deleted = deletedIds.size();

      NightlyJob.pauseForTests(config, "testing.pause-before-commit-ms");
      dev.joule.jobs.console.ConsoleProgress.phase("commit");
      // A run of this night that committed while this one scored wins: write nothing.
      long runsNow = latestVersion(runs);
      Row meanwhile = runsNow == prior.runsVersion() ? null
          : NightlyJob.committedRun(runRows(reader, runs, runsNow), runKey);
      if (meanwhile != null) {
        throw new JouleException(JouleException.CONFLICT, "run " + meanwhile.getAs("run_id") + " committed night "
            + runKey + " while this one was scoring; nothing of this run was written");
      }
      NightlyJob.pauseForTests(config, "testing.pause-after-check-ms");
      t = System.nanoTime();
      Commits commits = new Commits(runId, committedFiles);
      String haltAfter = config.string("testing.halt-after-table");
      String failAfter = config.string("testing.fail-after-table");
      try {
        // Predictions: the new rows, and the earlier rows of their ids and of the deleted ids
        // marked in deletion vectors, in one commit.
        List<TaskOutput.WrittenFile> files = st.filesOf(PartitionFiles.PREDICTIONS);
        Set<Object> keys = new HashSet<>(st.ids() == null ? List.of() : st.ids()); // (no rows: none)
        keys.addAll(deletedIds);
        Map<String, String> constants = new LinkedHashMap<>();
        constants.put("model_id", model.modelId());
        constants.put("model_version", model.modelVersion());
        constants.put("kernel", used.kernel().displayName());
        constants.put("run_id", runId);
        StructType predictionsSchema = ((Scoring.TableFolders) gated.sink()).columns().predictionsSchema();
        long[] marked = {0};
        try {
          commits.step(predictions, files, txn -> {
            KernelUpsert.Outcome o = KernelUpsert.commit(engine, conf, predictions, predictionsSchema, files, constants,
                "id", keys, Map.of("model_id", model.modelId()), txn, config.longValue("nightly.driver-key-scan-rows"));
            marked[0] = o.rowsMarked();
            return o;
          });
        } catch (KernelUpsert.KeysNotRead e) {
          // Nothing committed; this night's files go in the finally below, and Spark's night
          // reads those keys with a job (or merges, for files without row counts).
          throw new NotHere(e.getMessage());
        }
        LOG.info("predictions: {} rows written, {} earlier rows replaced or deleted (deletion vectors, Kernel)",
            st.scored(), marked[0]);
        dev.joule.jobs.score.ScoreJob.failIf(failAfter, haltAfter, "predictions");

        List<TaskOutput.WrittenFile> rejectFiles = st.filesOf(PartitionFiles.REJECTS);
        if (!rejectFiles.isEmpty()) {
          StructType rejectsSchema = ((Scoring.TableFolders) gated.sink()).columns().rejectsSchema();
          Map<String, String> rejectConstants = new LinkedHashMap<>();
          rejectConstants.put("run_id", runId);
          rejectConstants.put("model_id", model.modelId());
          rejectConstants.put("kernel", used.kernel().displayName());
          rejectConstants.put("run_key", runKey);
          KernelUpsert.createIfMissing(engine, rejects, rejectsSchema);
          commits.step(rejects, rejectFiles, txn -> KernelUpsert.append(engine, conf, rejects, rejectsSchema,
              rejectFiles, rejectConstants, txn));
        }
        dev.joule.jobs.score.ScoreJob.failIf(failAfter, haltAfter, "rejects");

        List<Row> energyRows = RunRecord.keyedEnergyRows(st.energyRows(), runKey);
        appendRows(commits, energyLog, RunRecord.KEYED_ENERGY_SCHEMA, energyRows, List.of("run_id", "job", "run_key"),
            driverFiles, null);
        dev.joule.jobs.score.ScoreJob.failIf(failAfter, haltAfter, "energy_log");

        var result = NightlyJob.scoreResult(runId, night.source(), sourceTo, out, gated, rowsIn, proc0, runsBefore,
            wall0, true);
        Row run = new RunRecord(night.job(), runKey, result, Timestamp.from(Instant.now()), from, deleted, sourceRows,
            scanMode, null, NightlyJob.describeSource(scanMode, null, from, sourceTo)).toRow(RunRecord.COMMITTED);
        // Exactly once: the runs row lands on the version it was checked at, and no other.
        appendRows(commits, runs, RunRecord.SCHEMA, List.of(run), RunRecord.STATS_COLUMNS, driverFiles, version -> {
          if (version != prior.runsVersion()) {
            List<Row> rows = reader.rows(runs, version);
            if (rows == null) {
              throw new IllegalStateException(runs + ": version " + version + " has columns the driver does not read");
            }
            Row other = NightlyJob.committedRun(rows, runKey);
            if (other != null) {
              throw new JouleException(JouleException.CONFLICT, "run " + other.getAs("run_id") + " committed "
                  + "night " + runKey + " while this one was committing; this run's results were not recorded "
                  + "(rerun to check)");
            }
          }
        });
        phases.put("commit (Kernel)", System.nanoTime() - t);
        LOG.info("night {} committed on the driver: {} rows scored, {} rejected, {} deleted ({} scan of {} source "
            + "rows)", runKey, st.scored(), st.rejected(), deleted, scanMode, sourceRows);
        return new NightlyJob.Result(runKey, runId, "committed", scanMode, null, from, sourceTo, sourceRows, rowsIn,
            st.scored(), st.rejected(), deleted, result, phases, null, NightlyJob.Engine.DRIVER);
      } catch (RuntimeException | Error e) {
        if (!commits.landed.isEmpty()) {
          try {
            rollback.undo(runId, commits.landed);
          } catch (RuntimeException | Error undo) { // the first failure is the one to report
            e.addSuppressed(undo);
          }
        }
        if (e instanceof KernelUpsert.ConcurrentCommit) {
          throw new JouleException(JouleException.CONFLICT, "another run wrote the output tables while night "
              + runKey + " was committing; nothing of this run was kept (" + e.getMessage() + ")", e);
        }
        throw e;
      }
    } finally {
      // A refused attempt's files, a night's that did not commit: all but what committed.
      for (Scoring.Sink sink : sinks) {
        discard(sink, committedFiles);
      }
      for (TaskOutput.WrittenFile f : driverFiles) {
        if (!committedFiles.contains(UncommittedFiles.key(f.table(), f.name()))) {
          DriverFile.delete(conf, f);
        }
      }
    }
  }

  /** The settings this class does not take: each night with one runs with Spark. */
  private void refuseSettings(NightlyJob.Request req) {
    String why = req.full() ? "--full"
        : req.dryRun() ? "a dry run (it stages its rows apart from the tables)"
        : !config.string("nightly.text.source").isEmpty() ? "a text source (nightly.text.source) is embedded first"
        : !config.string("nightly.reference").isEmpty() ? "top-k against a reference table"
        : config.string("nightly.model").isEmpty() ? "no model file"
        : !config.string("nightly.as-of").equals("latest") ? "nightly.as-of = " + config.string("nightly.as-of")
        : !Scoring.passthrough(config).isEmpty() ? "passthrough columns (score.passthrough)"
        : config.string("nightly.deletes").equals("tombstone") ? "nightly.deletes = tombstone"
        : config.integer("testing.fail-partition") >= 0 || config.integer("testing.fail-first-attempt-after-rows") >= 0
            || config.integer("testing.batch-delay-ms") > 0 ? "a testing hook of Spark's tasks is set"
        : null;
    if (why != null) {
      throw new NotHere(why);
    }
  }

  /** A source whose rows this class reads: a long id, a float-array embedding, no partitions or column mapping. */
  private static void refuseSchema(StructType schema, String idCol, String embCol, SnapshotImpl source) {
    List<String> names = java.util.Arrays.asList(schema.fieldNames());
    if (names.containsAll(Scoring.CODES_COLUMNS)) {
      throw new NotHere("a codes table");
    }
    if (!names.contains(idCol) || !schema.apply(idCol).dataType().equals(DataTypes.LongType)) {
      throw new NotHere("the id column is not a long");
    }
    if (!names.contains(embCol) || !(schema.apply(embCol).dataType() instanceof ArrayType a
        && a.elementType().equals(DataTypes.FloatType))) {
      throw new NotHere("the embedding column is not an array of floats");
    }
    if (!source.getPartitionColumnNames().isEmpty()
        || !source.getMetadata().getConfiguration().getOrDefault("delta.columnMapping.mode", "none").equals("none")) {
      throw new NotHere("the source has partitions or column mapping");
    }
  }

  /**
   * The files whose rows are the range's changes: each commit's change files; a commit without
   * any, its added files as inserts where it removed nothing (an append). A commit that rewrote
   * rows without change files (its deletes are in removed files or deletion vectors) is not read here.
   */
  private List<FeedFile> feedFiles(String source, long start, long end, boolean cdf) {
    List<FeedFile> feed = new ArrayList<>();
    try {
      for (LogFileActions.Commit c : LogFileActions.read(engine, LogFileActions.range(engine, source, start, end),
          new org.apache.hadoop.fs.Path(source))) {
        if (c.unreadable() != null) {
          throw new NotHere(c.unreadable());
        }
        if (c.metadata()) {
          // A feed turned on or off, a schema changed: Spark's night reads such a range as it
          // must (or falls back to a full scan, and says why).
          throw new NotHere("version " + c.version() + " changes the source's metadata");
        }
        List<FeedFile> changes = new ArrayList<>();
        List<FeedFile> added = new ArrayList<>();
        boolean rewrites = false;
        for (LogFileActions.FileAction f : c.files()) {
          if (!f.dataChange()) {
            continue; // a rewrite that changed no row (OPTIMIZE, say)
          }
          switch (f.kind()) {
            case CHANGE_FILE -> changes.add(new FeedFile(f.path(), c.version(), true));
            case ADD -> {
              // Without a feed every added row of the range is a change, as in Spark's history
              // night (no id's last version wins): one version for all, so that an id added
              // twice is a duplicate.
              added.add(new FeedFile(f.path(), cdf ? c.version() : 0, false));
              rewrites |= f.deletionVector();
            }
            case REMOVE -> rewrites = true;
            default -> throw new IllegalStateException(f.kind().toString());
          }
        }
        if (!changes.isEmpty() && cdf) {
          feed.addAll(changes);
        } else if (rewrites) {
          throw new NotHere("version " + c.version() + " removes or rewrites rows"
              + (cdf ? " without change files" : " and the source has no change data feed"));
        } else {
          feed.addAll(added);
        }
      }
    } catch (NotHere e) {
      throw e;
    } catch (RuntimeException e) {
      throw new NotHere("the log of versions " + start + ".." + end + " is not read by Delta Kernel here: "
          + e.getMessage());
    }
    return feed;
  }

  /** A file the driver cannot read: the night goes to Spark, and the log keeps the cause's trace. */
  private static NotHere unreadable(String path, RuntimeException e) {
    LOG.warn("cannot read {} on the driver", path, e);
    return new NotHere("cannot read " + path + " on the driver: " + e.getMessage());
  }

  private List<Object[]> readFile(FeedFile f, StructType columns) {
    try {
      return DriverParquetRows.read(settings.hadoop(), new org.apache.hadoop.fs.Path(f.path()), columns);
    } catch (RuntimeException e) {
      throw unreadable(f.path(), e);
    }
  }

  /**
   * The rows the night scores, read again file by file (only files holding a winner): each id's
   * winning row, and every written row without an id (the scorer rejects it), as batches of
   * (id, embedding[, _change_type]) holding only those rows ({@link DriverParquetRows#batches}).
   */
  private final class WinnerBatches implements Iterator<ColumnarBatch>, AutoCloseable {
    private final List<FeedFile> feed;
    private final boolean[] withoutIds;
    private final StructType rowColumns;
    private final Map<Object, NetChange.Winner> winners;
    private final Set<Long> versions = new HashSet<>(); // the versions that hold a row to score
    // Rows per batch read: the scorer gathers its own batches (score.batch-rows) from these, so
    // small ones suffice, and their vectors (1.5 MB at 384 floats) stay in the cache and die young.
    private final int batchRows = 1024;
    private int file = -1;
    private DriverParquetRows.Batches batches;
    /** The batches' vectors, by the columns read (change files have one more): grown once a night. */
    private final Map<StructType, org.apache.spark.sql.execution.vectorized.OnHeapColumnVector[]> vectors =
        new java.util.HashMap<>();

    WinnerBatches(List<FeedFile> feed, boolean[] withoutIds, StructType rowColumns,
        Map<Object, NetChange.Winner> winners) {
      this.feed = feed;
      this.withoutIds = withoutIds;
      this.rowColumns = rowColumns;
      this.winners = winners;
      winners.values().stream().filter(w -> !w.delete()).forEach(w -> versions.add(w.version()));
    }

    @Override
    public boolean hasNext() {
      while (batches == null || !more()) {
        batches = null; // (a file read to its end closes itself)
        if (++file >= feed.size()) {
          return false;
        }
        FeedFile f = feed.get(file);
        if (!versions.contains(f.version()) && !withoutIds[file]) {
          continue;
        }
        boolean changeFile = f.changeFile();
        long version = f.version();
        StructType columns = changeFile ? rowColumns.add("_change_type", DataTypes.StringType) : rowColumns;
        DriverParquetRows.RowFilter scored = r -> {
          String type = changeFile ? (String) r[2] : "insert";
          return ("insert".equals(type) || "update_postimage".equals(type))
              && NetChange.keeps(winners, r[0], version, false);
        };
        try {
          batches = DriverParquetRows.batches(settings.hadoop(), new org.apache.hadoop.fs.Path(f.path()), columns,
              scored, batchRows, vectors.computeIfAbsent(columns, c -> DriverParquetRows.vectors(batchRows, c)));
        } catch (RuntimeException e) {
          throw unreadable(f.path(), e);
        }
      }
      return true;
    }

    /**
     * Whether the file has another batch. A file the driver cannot read sends the night to Spark,
     * which reads it itself, as {@link #readFile} does: parquet-mr throws plain runtime exceptions
     * for a file it cannot parse, so every one is taken for that, and the log says which.
     */
    private boolean more() {
      try {
        return batches.hasNext();
      } catch (RuntimeException e) {
        throw unreadable(feed.get(file).path(), e);
      }
    }

    @Override
    public ColumnarBatch next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      return batches.next();
    }

    @Override
    public void close() {
      if (batches != null) {
        batches.close();
      }
    }
  }

  /**
   * Writes {@code rows} to one file of {@code table} and appends it in one commit, the table
   * created first where missing; {@code check} (null: none) as {@link KernelUpsert#appendChecked}.
   * The file is listed in {@code written}. No rows, no commit.
   */
  private void appendRows(Commits commits, String table, StructType schema, List<Row> rows, List<String> statsColumns,
      List<TaskOutput.WrittenFile> written, java.util.function.LongConsumer check) {
    if (rows.isEmpty()) {
      return; // (a night without rows has no energy row: nothing to commit, as on Spark)
    }
    TaskOutput.WrittenFile file = DriverFile.write(settings.hadoop(), settings.sql(), table, schema, rows,
        (commits.runId + "-d" + (commits.step + 1)).replaceAll("[^A-Za-z0-9._-]", "_"));
    written.add(file);
    KernelUpsert.createIfMissing(engine, table, schema);
    Map<String, String> constants = TableCommit.constants(schema, rows, statsColumns);
    commits.step(table, List.of(file), txn -> check == null
        ? KernelUpsert.append(engine, settings.hadoop(), table, schema, List.of(file), constants, txn)
        : KernelUpsert.appendChecked(engine, settings.hadoop(), table, schema, List.of(file), constants, txn, check));
  }

  /**
   * The night's commits, one step each, tagged with the run's id and step: what landed (for a
   * rollback) and the files it committed (kept when the night's files are cleaned up).
   */
  private final class Commits {
    final String runId;
    final Set<String> committedFiles;
    final List<Landed> landed = new ArrayList<>();
    int step;

    Commits(String runId, Set<String> committedFiles) {
      this.runId = runId;
      this.committedFiles = committedFiles;
    }

    /**
     * Commits {@code files} to {@code table}. Where the commit file's write failed in a way
     * that may have landed it, the log after the version it built on is read for this run's tag:
     * a commit found there counts as landed (undone with the others, its files kept).
     */
    void step(String table, List<TaskOutput.WrittenFile> files,
        java.util.function.Function<Optional<KernelUpsert.TransactionId>, KernelUpsert.Outcome> commit) {
      int s = ++step;
      long version;
      try {
        version = commit.apply(Optional.of(CommitTag.asTransaction(runId, s))).version();
      } catch (KernelUpsert.MayHaveLanded e) {
        version = taggedVersion(table, e.readVersion() + 1, files);
        if (version >= 0) {
          landed(table, version, files);
        }
        throw e;
      }
      if (version >= 0) {
        landed(table, version, files);
      }
    }

    private void landed(String table, long version, List<TaskOutput.WrittenFile> files) {
      landed.add(new Landed(table, version));
      files.forEach(f -> committedFiles.add(UncommittedFiles.key(table, f.name())));
    }

    /**
     * The version from {@code from} on that this run committed (a night commits once to each
     * table), or -1; where the log cannot be read, its files are kept.
     */
    private long taggedVersion(String table, long from, List<TaskOutput.WrittenFile> files) {
      try {
        for (CommitTag.Commit c : CommitTag.commits(engine, settings.hadoop(), table, from)) {
          if (runId.equals(c.runId()) && !c.undo()) {
            return c.version();
          }
        }
        return -1;
      } catch (RuntimeException e) {
        LOG.error("{}: cannot tell whether run {}'s commit landed ({}); its files are kept", table, runId, e.toString());
        files.forEach(f -> committedFiles.add(UncommittedFiles.key(table, f.name())));
        return -1;
      }
    }
  }

  /** {@code read}, where a failure means only that the driver does not take this night (nothing is written yet). */
  private static <T> T beforeAnyWrite(String what, java.util.function.Supplier<T> read) {
    try {
      return read.get();
    } catch (JouleException | NotHere e) {
      throw e;
    } catch (RuntimeException e) {
      throw new NotHere(what + " failed on the driver: " + e);
    }
  }

  /** Refuses, as {@link NotHere}, a table a Kernel commit of the night would refuse; a missing one (but predictions) is created. */
  private void refuseTable(String table, StructType schema, boolean marks) {
    String why = KernelUpsert.refusal(engine, settings.hadoop(), table, schema, marks);
    if (why != null) {
      throw new NotHere(why);
    }
  }

  /** A Parquet file's rows, from its footer. */
  private long rowCount(FeedFile f) {
    try (org.apache.parquet.hadoop.ParquetFileReader r = org.apache.parquet.hadoop.ParquetFileReader.open(
        org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(new org.apache.hadoop.fs.Path(f.path()),
            settings.hadoop()))) {
      return r.getRecordCount();
    } catch (IOException | RuntimeException e) {
      throw new NotHere("cannot read the footer of " + f.path() + " on the driver: " + e.getMessage());
    }
  }

  private void discard(Scoring.Sink sink, Set<String> committed) {
    Scoring.TableFolders t = (Scoring.TableFolders) sink;
    UncommittedFiles.delete(settings.hadoop(), List.of(t.predictions(), t.rejects()), t.fileTag(), committed);
  }

  /** The runs table's rows at {@code version}, read on the driver. */
  private static List<Row> runRows(DriverTableReader reader, String runs, long version) {
    List<Row> rows = reader.rows(runs, version);
    if (rows == null) {
      throw new NotHere("the runs table has columns the driver's reader does not take");
    }
    return rows;
  }

  /** The table's latest version, or -1 where it is not a Delta table. */
  private long latestVersion(String table) {
    try {
      return TableManager.loadSnapshot(table).build(engine).getVersion();
    } catch (io.delta.kernel.exceptions.TableNotFoundException e) {
      return -1;
    }
  }

  private String qualified(String path) {
    try {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
      return p.getFileSystem(settings.hadoop()).makeQualified(p).toString();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(path + ": " + e.getMessage(), e);
    }
  }
}
