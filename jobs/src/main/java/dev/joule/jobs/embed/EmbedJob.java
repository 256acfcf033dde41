package dev.joule.jobs.embed;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;

import dev.joule.bridge.kernel.DimensionScales;
import dev.joule.encoder.EncoderCache;
import dev.joule.encoder.EncoderModel;
import dev.joule.encoder.SentenceEncoder;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.config.JouleSpark;
import dev.joule.jobs.console.ConsoleProgress;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.delta.OutputPaths;
import dev.joule.jobs.delta.RunRecovery;
import dev.joule.jobs.delta.TableCommit;
import dev.joule.jobs.delta.UncommittedFiles;
import dev.joule.jobs.imports.TextInputs;
import dev.joule.jobs.report.EnergySummary;
import dev.joule.jobs.score.IdCensus;
import dev.joule.jobs.score.RunRecord;
import dev.joule.jobs.score.ScoreResult;
import dev.joule.jobs.score.Scoring;
import dev.joule.udfs.EnergyRecord;
import dev.joule.udfs.IdColumn;
import dev.joule.udfs.embed.EmbedSpec;
import dev.joule.udfs.embed.EmbedTables;
import dev.joule.udfs.embed.LongText;
import dev.joule.udfs.embed.PartitionEmbedder;
import dev.joule.udfs.files.TableFiles;
import dev.joule.udfs.files.TaskOutput;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code joule embed}: a table of texts (Delta, Parquet, CSV or JSON lines) → a Delta table of
 * sentence embeddings ({@link EmbedTables#embeddings}), with rejects, energy_log and runs beside
 * it, as a scoring run writes them.
 *
 * <p>One Spark job embeds every partition once and writes each row straight into the data files
 * of the embeddings or rejects table ({@link PartitionEmbedder}); the driver reconciles the
 * tasks' counts (rows in = embedded + rejected, per partition and in all) and commits each table
 * once. A rerun replaces the rows this model made before; a failed run leaves the tables as they
 * were.
 */
public final class EmbedJob {

  private static final Logger LOG = LoggerFactory.getLogger(EmbedJob.class);
  private static final DateTimeFormatter RUN_TS =
      DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC);

  /** How the input is stored; {@code AUTO} tells by its {@code _delta_log} or file extensions. */
  public enum Format { AUTO, DELTA, PARQUET, CSV, JSONL }

  /**
   * @param keep the input's other columns to carry into the embeddings table; null: all of them
   *     except the text (its hash is kept)
   */
  public record Request(String input, Format format, String textCol, String idCol, String output,
      EncoderModel model, int batch, LongText longText, List<String> keep) {}

  /** The run's figures, as a scoring run reports them (rows scored are rows embedded). */
  public record Result(ScoreResult run, long truncated, String embeddings) {}

  /** The tables under the output folder. */
  public record Tables(String root) {
    public String embeddings() {
      return root + "/embeddings";
    }

    public String rejects() {
      return root + "/rejects";
    }

    public String energyLog() {
      return root + "/energy_log";
    }

    public String runs() {
      return root + "/runs";
    }

    List<String> dataTables() {
      return List.of(embeddings(), rejects(), energyLog());
    }
  }

  /**
   * An embeddings table is made with its change data feed on, so a night that scores it reads
   * only the rows a later run changed, and with deletion vectors, so a night's MERGE marks the
   * rows it replaces instead of rewriting every file that holds one.
   */
  public static final Map<String, String> EMBEDDINGS_TABLE_PROPERTIES = Map.of(
      "delta.enableChangeDataFeed", "true", "delta.enableDeletionVectors", "true");

  private final SparkSession spark;
  private final JouleConfig config;

  public EmbedJob(SparkSession spark, JouleConfig config) {
    this.spark = spark;
    this.config = config;
  }

  public Result run(Request req) {
    long wall0 = System.nanoTime();
    long proc0 = Scoring.processCpuNanos();
    int runsBefore = EnergySummary.startRun();
    String runId = "embed-" + RUN_TS.format(Instant.now()) + "-" + UUID.randomUUID().toString().substring(0, 8);
    Tables out = new Tables(req.output());
    OutputPaths.requireFolder(spark, out.root(), "output");
    for (String t : List.of(out.embeddings(), out.rejects(), out.energyLog(), out.runs())) {
      OutputPaths.requireWritable(spark, t, "output table");
    }
    RunRecovery.recover(spark, out.dataTables(), out.runs(), config.duration("recovery.grace"));

    Input in = read(req.input(), req.format(), req.idCol(), req.textCol(), req.keep());
    // Loaded on the driver first: a model that cannot load fails here, in one line, before any task.
    SentenceEncoder encoder = EncoderCache.get(req.model());
    IdCensus census = IdCensus.of(in.rows().select(col("id")), java.util.OptionalLong.empty(), IdCensus.Limits.of(config),
        "input " + req.input());
    long rowsIn = census.rows();
    if (rowsIn == 0) {
      throw JouleException.input("input " + req.input() + " has no rows; nothing embedded");
    }
    String createdRoot = DeltaIO.firstMissing(spark, req.output());
    Set<String> committed = new HashSet<>();
    try {
      Pass pass = embed(in, in.rows(), rowsIn, census.duplicates(), runId, "embed", req.model(), req.batch(),
          req.longText(), out.embeddings(), out.rejects(), encoder);
      Reconciled r = pass.counts();
      if (r.embedded() == 0) {
        throw JouleException.input(String.format(Locale.ROOT, "all %,d rows rejected: %s; nothing committed",
            rowsIn, r.describeReasons()));
      }
      StructType embeddingsSchema = pass.embeddingsSchema();
      StructType rejectsSchema = pass.rejectsSchema();
      ConsoleProgress.phase("commit");
      TableCommit commit = new TableCommit(spark, runId);
      Map<String, String> replace = Map.of("model", req.model().label());
      Map<String, String> constants = new LinkedHashMap<>(replace);
      constants.put("run_id", runId);
      try {
        commit.addFiles(out.embeddings(), embeddingsSchema, r.files(EmbedTables.EMBEDDINGS), replace, constants,
            dev.joule.jobs.embed.EmbedJob.EMBEDDINGS_TABLE_PROPERTIES);
        r.files(EmbedTables.EMBEDDINGS).forEach(f -> committed.add(UncommittedFiles.key(out.embeddings(), f.name())));
        recordDimensionScales(spark, commit, out.embeddings(), r.maxAbs());
        commit.addFiles(out.rejects(), rejectsSchema, r.files(EmbedTables.REJECTS), replace, constants);
        r.files(EmbedTables.REJECTS).forEach(f -> committed.add(UncommittedFiles.key(out.rejects(), f.name())));
        commit.append(out.energyLog(), spark.createDataFrame(r.energyRows(), EnergyRecord.SCHEMA));
        ScoreResult result = result(req, runId, in, rowsIn, r, encoder, wall0, proc0, runsBefore);
        commit.append(out.runs(), new RunRecord("embed", null, result, Timestamp.from(Instant.now()), null, 0, rowsIn,
            "full", null, readNote(rowsIn, r.truncated(), req.model())).toDataFrame(spark));
        LOG.info("run {}: committed {} embeddings, {} rejects", runId, r.embedded(), r.rejected());
        return new Result(result, r.truncated(), out.embeddings());
      } catch (Exception | Error e) {
        LOG.error("run {} failed while committing; undoing its own commits", runId);
        commit.rollback();
        throw e;
      }
    } finally {
      UncommittedFiles.delete(spark, List.of(out.embeddings(), out.rejects()), runId, committed);
      DeltaIO.removeEmptyFolders(spark, req.output(), createdRoot);
    }
  }

  /**
   * Table property of an embeddings table {@code joule embed} writes: per-dimension scales (the
   * largest |x| of each dimension over every vector it wrote, base64 float32 as
   * {@link DimensionScales#encoded()}). An int8 run quantizing the table's rows on the fly divides
   * them by these and folds them into its kernel, as a codes table's are (README, "Dimensions on
   * different scales"). Any positive scales give correct answers (a row's own scale is taken after
   * the division), so a table changed by other writers since only makes them less apt.
   */
  public static final String DIMENSION_SCALES_PROPERTY = "joule.embeddings.dimension-scales";

  /**
   * Raises the table's recorded dimension scales to cover {@code maxAbs} (a commit of its own,
   * after the rows': see {@link #DIMENSION_SCALES_PROPERTY} for why that is safe). Nothing when
   * nothing was written or the scales already cover it.
   */
  public static void recordDimensionScales(SparkSession spark, TableCommit commit, String table, float[] maxAbs) {
    if (maxAbs == null) {
      return;
    }
    float[] max = maxAbs.clone();
    DimensionScales old = DeltaIO.exists(spark, table)
        ? dimensionScales(spark, table, DeltaIO.latestVersion(spark, table), max.length) : null;
    if (old != null) {
      float[] o = old.values();
      for (int c = 0; c < max.length; c++) {
        max[c] = Math.max(max[c], o[c]);
      }
    }
    DimensionScales now = DimensionScales.ofMaxAbs(max);
    if (now.equals(old)) {
      return;
    }
    commit.sql(table, "ALTER TABLE delta.`" + DeltaIO.qualified(spark, table).replace("`", "``")
        + "` SET TBLPROPERTIES ('" + DIMENSION_SCALES_PROPERTY + "' = '" + now.encoded() + "')");
  }

  /** The dimension scales recorded on an embeddings table at {@code version}, or null (none, unreadable, or not of {@code dim}). */
  public static DimensionScales dimensionScales(SparkSession spark, String table, long version, int dim) {
    return dimensionScales(DeltaIO.properties(spark, table, version), table, dim);
  }

  /** As above, from the table's properties at the version read. */
  public static DimensionScales dimensionScales(java.util.Map<String, String> properties, String table, int dim) {
    String s = properties.get(DIMENSION_SCALES_PROPERTY);
    if (s == null) {
      return null;
    }
    try {
      DimensionScales e = DimensionScales.parse(s);
      return e.dim() == dim ? e : null;
    } catch (IllegalArgumentException e) {
      LOG.warn("embeddings table {}: ignoring property {}: {}", table, DIMENSION_SCALES_PROPERTY, e.getMessage());
      return null;
    }
  }

  /** What one pass of embedding tasks wrote and counted: files in two folders, reconciled, not committed. */
  public record Pass(Reconciled counts, StructType embeddingsSchema, StructType rejectsSchema) {}

  /**
   * Embeds {@code rows} (as {@link #read} gives them, or some of them) in one Spark job: each
   * task writes its rows into data files in {@code embeddingsDir} and {@code rejectsDir}, named
   * with {@code runId}; the driver reconciles the tasks' counts against {@code rowsIn}. Nothing
   * is committed.
   */
  public Pass embed(Input in, Dataset<Row> rows, long rowsIn, dev.joule.udfs.DuplicateIds duplicates, String runId,
      String job, EncoderModel model, int batch, LongText longText, String embeddingsDir, String rejectsDir,
      SentenceEncoder encoder) {
    int slots = spark.sparkContext().defaultParallelism();
    if (rows.rdd().getNumPartitions() < slots) {
      // A small file is one partition: spread it so every task slot embeds.
      rows = rows.repartition(slots);
    }
    EmbedSpec spec = new EmbedSpec(runId, job, model, encoder.contentId(), batch, longText, duplicates,
        config.energySpec(JouleSpark.slotsPerExecutor(spark)), in.idType(), in.kept(),
        org.apache.spark.sql.catalyst.util.DateTimeUtils.fromJavaTimestamp(Timestamp.from(Instant.now())));
    StructType embeddingsSchema = EmbedTables.embeddings(in.idType(), in.kept());
    StructType rejectsSchema = EmbedTables.rejects(in.idType());
    TableFiles embFiles = TableFiles.prepare(spark, embeddingsDir, embeddingsSchema, runId);
    TableFiles rejFiles = TableFiles.prepare(spark, rejectsDir, rejectsSchema, runId);
    ConsoleProgress.phase("embedding", rowsIn);
    List<TaskOutput> outputs = rows.toJavaRDD().mapPartitions(new PartitionEmbedder(spec, embFiles, rejFiles)).collect();
    ConsoleProgress.phase("reconciling");
    return new Pass(reconcile(outputs, rowsIn), embeddingsSchema, rejectsSchema);
  }

  /** The runs row's source_changes: what was read, and what of it was cut. */
  private static String readNote(long rowsIn, long truncated, EncoderModel model) {
    return String.format(Locale.ROOT, "the whole input, %,d rows", rowsIn) + (truncated == 0 ? ""
        : String.format(Locale.ROOT, "; %,d texts over %d word pieces embedded from their first %d (%s)", truncated,
            EncoderModel.MAX_TOKENS, EncoderModel.MAX_TOKENS, model.label()));
  }

  private ScoreResult result(Request req, String runId, Input in, long rowsIn, Reconciled r, SentenceEncoder encoder,
      long wall0, long proc0, int runsBefore) {
    return new ScoreResult(runId, req.input(), in.version(), req.output(), req.model().label(), encoder.contentId(),
        req.model().label(), encoder.contentId(), req.model().weights(), EncoderModel.DIM, EncoderModel.DIM, rowsIn,
        r.embedded(), r.rejected(), r.reasons(),
        EnergySummary.of(r.energyRows(), Math.max(0, Scoring.processCpuNanos() - proc0 - r.taskCpuNanos()),
            config.energySpec(JouleSpark.slotsPerExecutor(spark)).powerProfiles(), runsBefore),
        System.nanoTime() - wall0, true, null);
  }

  /** The tasks' outputs summed and checked: in = embedded + rejected, per partition and in all. */
  /** @param maxAbs the largest |x| of each dimension over the vectors written, or null (none written) */
  public record Reconciled(long embedded, long rejected, long truncated, Map<String, Long> reasons,
      Map<String, String> examples, List<Row> energyRows, List<TaskOutput.WrittenFile> allFiles, long taskCpuNanos,
      float[] maxAbs) {
    public List<TaskOutput.WrittenFile> files(String table) {
      return allFiles.stream().filter(f -> f.table().equals(table)).toList();
    }

    public String describeReasons() {
      StringBuilder s = new StringBuilder();
      reasons.forEach((code, n) -> s.append(s.length() == 0 ? "" : "; ").append(code)
          .append(String.format(Locale.ROOT, " %,d", n)).append(" (e.g. ").append(examples.get(code)).append(")"));
      return s.toString();
    }
  }

  public static Reconciled reconcile(List<TaskOutput> outputs, long rowsIn) {
    long embedded = 0;
    long rejected = 0;
    long in = 0;
    long cpu = 0;
    Map<String, Long> reasons = new TreeMap<>();
    Map<String, String> examples = new TreeMap<>();
    List<Row> energy = new ArrayList<>();
    List<TaskOutput.WrittenFile> files = new ArrayList<>();
    long truncated = 0;
    float[] maxAbs = null;
    for (TaskOutput o : outputs) {
      long written = o.files().stream().mapToLong(TaskOutput.WrittenFile::rows).sum();
      if (o.rowsIn() != o.scored() + o.rejected() || written != o.rowsIn()) {
        throw new JouleException(JouleException.OTHER, String.format(Locale.ROOT, "partition %d does not "
            + "reconcile: %,d in, %,d embedded + %,d rejected, %,d rows in its files; nothing committed",
            o.partition(), o.rowsIn(), o.scored(), o.rejected(), written));
      }
      in += o.rowsIn();
      embedded += o.scored();
      rejected += o.rejected();
      o.reasons().forEach((k, v) -> reasons.merge(k, v, Long::sum));
      o.examples().forEach(examples::putIfAbsent);
      energy.add(EnergyRecord.asRead(o.energy()));
      files.addAll(o.files());
      cpu += o.energy().<Long>getAs("thread_cpu_ns");
      truncated += o.truncated();
      if (o.maxAbs() != null) {
        maxAbs = maxAbs == null ? o.maxAbs().clone() : maxAbs;
        for (int c = 0; c < maxAbs.length; c++) {
          maxAbs[c] = Math.max(maxAbs[c], o.maxAbs()[c]);
        }
      }
    }
    if (in != rowsIn) {
      throw new JouleException(JouleException.OTHER, String.format(Locale.ROOT, "the tasks read %,d rows, "
          + "the input has %,d; nothing committed", in, rowsIn));
    }
    return new Reconciled(embedded, rejected, truncated, reasons, examples, energy, files, cpu, maxAbs);
  }

  /**
   * The input as the tasks read it: {@code id, text, reason}, then the kept columns.
   *
   * @param version the Delta version read, -1 for files
   */
  public record Input(Dataset<Row> rows, DataType idType, StructType kept, long version) {}

  /**
   * Reads texts: {@code id} (as {@link IdColumn#key} keeps it), {@code text}, {@code reason} (a
   * malformed line's), then the kept columns ({@code keep}; null: all but id and text).
   */
  public Input read(String input, Format format, String idCol, String textCol, List<String> keep) {
    long version = -1;
    Dataset<Row> raw;
    switch (format == Format.AUTO ? detect(input) : format) {
      case DELTA -> {
        DeltaIO.Pinned p = DeltaIO.readPinned(spark, input, "input");
        raw = p.data();
        version = p.version();
      }
      case PARQUET -> raw = spark.read().parquet(input);
      case CSV -> raw = TextInputs.csv(spark, input);
      case JSONL -> raw = TextInputs.jsonLines(spark, input);
      default -> throw new IllegalStateException("format " + format);
    }
    List<String> names = Arrays.stream(raw.schema().fieldNames()).filter(n -> !TextInputs.INTERNAL.contains(n)).toList();
    if (names.isEmpty()) {
      throw JouleException.input("input " + input + " has no rows; nothing embedded");
    }
    for (String[] c : List.of(new String[] {idCol, "--id-col"}, new String[] {textCol, "--text-col"})) {
      if (!names.contains(c[0])) {
        throw JouleException.input("input " + input + " has no column '" + c[0] + "' (" + c[1] + "); its columns: "
            + String.join(", ", names));
      }
    }
    DataType textType = raw.schema().apply(textCol).dataType();
    if (!textType.equals(DataTypes.StringType)) {
      throw JouleException.input("input " + input + ": text column '" + textCol + "' is "
          + textType.simpleString() + ", not a string");
    }
    DataType idIn = raw.schema().apply(idCol).dataType();
    DataType idType = IdColumn.keyKind(idIn).sparkType();
    List<String> kept = keep != null ? keep
        : names.stream().filter(n -> !n.equals(idCol) && !n.equals(textCol)).toList();
    Set<String> reserved = Set.of(EmbedTables.embeddings(DataTypes.StringType, new StructType()).fieldNames());
    List<Column> cols = new ArrayList<>(List.of(IdColumn.key(col(idCol), idIn).as("id"),
        col(textCol).as("text"),
        (Arrays.asList(raw.schema().fieldNames()).contains(TextInputs.MALFORMED) ? col(TextInputs.MALFORMED)
            : lit(null).cast(DataTypes.StringType)).as("reason")));
    StructType keptType = new StructType();
    for (String k : kept) {
      if (!names.contains(k)) {
        throw JouleException.usage("--keep names '" + k + "', which the input lacks; its columns: "
            + String.join(", ", names));
      }
      if (reserved.contains(k)) {
        throw JouleException.usage("input column '" + k + "' has the name of an embeddings column; leave it out "
            + "with --keep");
      }
      StructField f = raw.schema().apply(k);
      keptType = keptType.add(k, f.dataType(), true);
      cols.add(col(k));
    }
    return new Input(raw.select(cols.toArray(Column[]::new)), idType, keptType, version);
  }

  private Format detect(String input) {
    org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(input);
    try {
      org.apache.hadoop.fs.FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
      if (!fs.exists(p)) {
        throw JouleException.input("input not found: " + input);
      }
      if (fs.exists(new org.apache.hadoop.fs.Path(p, "_delta_log"))) {
        return Format.DELTA;
      }
      List<String> files = new ArrayList<>();
      if (fs.getFileStatus(p).isFile()) {
        files.add(p.getName());
      } else {
        for (org.apache.hadoop.fs.FileStatus f : fs.listStatus(p)) {
          if (f.isFile() && !f.getPath().getName().startsWith(".") && !f.getPath().getName().startsWith("_")) {
            files.add(f.getPath().getName());
          }
        }
      }
      for (String f : files) {
        String n = f.toLowerCase(Locale.ROOT).replaceAll("\\.(gz|bz2|snappy|zst)$", "");
        if (n.endsWith(".parquet")) {
          return Format.PARQUET;
        }
        if (n.endsWith(".csv")) {
          return Format.CSV;
        }
        if (n.endsWith(".jsonl") || n.endsWith(".json") || n.endsWith(".ndjson")) {
          return Format.JSONL;
        }
      }
      throw JouleException.usage("cannot tell the format of " + input + " (no _delta_log, no .parquet, .csv or "
          + ".jsonl files); name it with --format");
    } catch (java.io.IOException e) {
      throw JouleException.input("cannot read " + input + ": " + e.getMessage());
    }
  }
}
