package dev.joule.jobs.score;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.substring_index;

import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.node.NodeException;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.config.JouleSpark;
import dev.joule.jobs.console.ConsoleProgress;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.udfs.DuplicateIds;
import dev.joule.udfs.EmbeddingColumn;
import dev.joule.udfs.GateSample;
import dev.joule.udfs.SampledRows;
import dev.joule.udfs.EnergyAccumulators;
import dev.joule.udfs.EnergySpec;
import dev.joule.udfs.JouleEnergyListener;
import dev.joule.udfs.IdColumn;
import dev.joule.udfs.KernelInfo;
import dev.joule.udfs.PartitionScorer;
import dev.joule.udfs.ScoringSpec;
import dev.joule.udfs.StagedRows;
import dev.joule.udfs.files.PartitionFiles;
import dev.joule.udfs.files.RunColumns;
import dev.joule.udfs.files.TableFiles;
import dev.joule.udfs.files.TaskOutput;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The part of a scoring job that does not depend on how its output is committed: resolving the
 * input's columns against a kernel, and scoring rows once into a staging folder with the counts
 * reconciled. {@link ScoreJob} and the nightly job commit the result their own ways.
 */
public final class Scoring {

  private static final Logger LOG = LoggerFactory.getLogger(Scoring.class);

  /** Columns a codes table (written by {@code joule quantize}) has. */
  public static final List<String> CODES_COLUMNS = List.of("codes", "scale", "norm", "precision", "dim");

  private Scoring() {}

  /** The columns of a predictions table (score's, and nightly's tombstone). */
  public static final List<String> PREDICTION_COLUMNS = List.of("id", "model_id", "model_version", "kernel",
      "label", "score", "scores", "neighbors", "run_id", "scored_at", "tombstone");

  /**
   * An input column carried through to the predictions ({@code score.passthrough}, {@code
   * --passthrough}): {@code column}, written as {@code as}. Spelled {@code COL} or {@code COL:NEW_NAME}.
   */
  public record Passthrough(String column, String as) {
    public static Passthrough parse(String spec) {
      String s = spec.trim();
      int colon = s.lastIndexOf(':');
      Passthrough p = colon < 0 ? new Passthrough(s, s)
          : new Passthrough(s.substring(0, colon).trim(), s.substring(colon + 1).trim());
      if (p.column().isEmpty() || p.as().isEmpty()) {
        throw JouleException.usage("passthrough '" + spec + "': expected COLUMN or COLUMN:NEW_NAME");
      }
      return p;
    }

    /** As {@link #parse} reads it. */
    public String spec() {
      return column + ":" + as;
    }
  }

  /**
   * An input table resolved against a model at a precision.
   *
   * @param inputPlanned how the input's files were found ({@link DeltaIO.Pinned#planned})
   * @param passthrough input columns carried, beside the scored ones, to the predictions; they never
   *     reach the kernel: the scorer keeps them per row and attaches them when it emits the row
   * @param passthroughType their types, as the staged {@code passthrough} struct holds them (its
   *     fields are named by {@link Passthrough#as()}); empty when there are none
   * @param duplicates ids on more than one row of the input ({@link IdCensus}): their rows are rejected
   */
  public record Prepared(ModelSpec model, Kernel kernel, KernelInfo info, IdColumn idKind,
      EmbeddingColumn.Layout layout, Column idExpr, String embCol, String inputPath, String inputPlanned,
      List<Passthrough> passthrough, StructType passthroughType, DuplicateIds duplicates) {

    /** The same input and model, rejecting the rows of these ids. */
    public Prepared withDuplicates(DuplicateIds d) {
      return new Prepared(model, kernel, info, idKind, layout, idExpr, embCol, inputPath, inputPlanned,
          passthrough, passthroughType, d);
    }

    public boolean codes() {
      return layout == null;
    }

    /**
     * The (id, embedding) or (id, codes, scale, norm, precision) columns the scorer reads, then
     * the passthrough columns.
     */
    public Dataset<Row> select(Dataset<Row> table) {
      List<Column> cols = new java.util.ArrayList<>(codes()
          ? List.of(idExpr.as("id"), col("codes"), col("scale").cast("float"), col("norm").cast("float"),
              col("precision"))
          : List.of(idExpr.as("id"), col(embCol).as("embedding")));
      for (Passthrough p : passthrough) {
        cols.add(col("`" + p.column().replace("`", "``") + "`"));
      }
      return table.select(cols.toArray(Column[]::new));
    }

    /** The passthrough columns of the staged rows, named for the predictions table. */
    public List<Column> passthroughColumns() {
      return passthrough.stream().map(p -> col(StagedRows.PASSTHROUGH).getField(p.as()).as(p.as())).toList();
    }
  }

  /**
   * Where a scoring pass puts its rows: a staging folder that the caller reads back
   * ({@link Staging}), or the data files of the output tables themselves, each row written once
   * and committed later by the driver ({@link TableFolders}).
   */
  public sealed interface Sink permits Staging, TableFolders {}

  /** Predictions, rejects and energy rows, tagged by kind, in one Parquet folder. */
  public record Staging(String folder) implements Sink {}

  /**
   * Predictions and rejects written as data files into these table folders, under names
   * carrying {@code fileTag} ({@link TableFiles}); energy records come back in the tasks' outputs.
   */
  public record TableFolders(String predictions, String rejects, RunColumns columns, String fileTag) implements Sink {}

  /**
   * Rows scored and reconciled. With a {@link Staging} sink {@code rows} reads the staged Parquet;
   * with {@link TableFolders} it is null and {@code files} lists the data files the tasks wrote.
   *
   * @param accumulated the run's accumulator totals as Spark's listener bus reported them
   * @param scoringJobNanos wall time of the one Spark job that read and scored the rows
   * @param examples one full reason per reject reason code
   * @param sampled what the tasks kept of the quality gate's sample: the answers they published
   *     and, for embedding rows, the fp32 rows as they read them; null when they kept nothing (a
   *     staging sink, an fp32 kernel, the gate off)
   * @param inputRead how the tasks read the input: {@code columnar} (the scan's batches) or {@code rows}
   * @param ids the ids of the predictions written, when the sink's columns keep them, else null
   */
  public record Staged(Dataset<Row> rows, long rowsIn, long scored, long rejected,
      List<Row> energyRows, Map<String, Long> reasons, EnergySpec energy, int partitions,
      JouleEnergyListener.Totals accumulated, long scoringJobNanos, Sink sink,
      List<TaskOutput.WrittenFile> files, Map<String, String> examples, SampledRows sampled, String inputRead,
      List<Object> ids) {

    /** Predictions or rejects (id and the columns of their table), read back from where they were written. */
    public Dataset<Row> ofKind(String kind) {
      if (rows != null) {
        return rows.filter(col("kind").equalTo(kind));
      }
      TableFolders t = (TableFolders) sink;
      String table = kind.equals(StagedRows.PREDICTION) ? PartitionFiles.PREDICTIONS : PartitionFiles.REJECTS;
      StructType schema = table.equals(PartitionFiles.PREDICTIONS) ? t.columns().predictionsSchema()
          : t.columns().rejectsSchema();
      String[] paths = filesOf(table).stream().map(TaskOutput.WrittenFile::path).toArray(String[]::new);
      SparkSession spark = SparkSession.active();
      return paths.length == 0 ? spark.createDataFrame(List.of(), schema) : spark.read().schema(schema).parquet(paths);
    }

    public List<TaskOutput.WrittenFile> filesOf(String table) {
      return files.stream().filter(f -> f.table().equals(table)).toList();
    }

    public long taskCpuNanos() {
      return energyRows.stream().mapToLong(r -> r.<Long>getAs("thread_cpu_ns")).sum();
    }
  }

  /** The predictions and rejects columns of a run at this kernel, with their constant values. */
  public static RunColumns runColumns(String runId, ModelSpec model, Prepared p, java.sql.Timestamp scoredAt) {
    return new RunColumns(runId, model.modelId(), model.modelVersion(), p.kernel().displayName(),
        org.apache.spark.sql.catalyst.util.DateTimeUtils.fromJavaTimestamp(scoredAt), p.idKind().sparkType(),
        p.passthroughType());
  }

  /** {@code score.passthrough}: a list, or one comma-separated string; blanks dropped. */
  public static List<String> passthrough(JouleConfig config) {
    com.typesafe.config.Config c = config.raw();
    String key = "joule.score.passthrough";
    try {
      List<String> raw = !c.hasPath(key) ? List.of()
          : c.getValue(key).valueType() == com.typesafe.config.ConfigValueType.LIST ? c.getStringList(key)
          : Arrays.asList(c.getString(key).split(","));
      return raw.stream().map(String::trim).filter(x -> !x.isEmpty()).toList();
    } catch (com.typesafe.config.ConfigException e) {
      throw JouleException.usage("joule.score.passthrough must be a list of column names: " + e.getMessage());
    }
  }

  /** Without passthrough columns. */
  public static Prepared prepare(JouleConfig config, DeltaIO.Pinned pinned, ModelSpec model,
      Precision precision) {
    return prepare(config, pinned, model, precision, List.of());
  }

  /**
   * @param passthrough input columns to carry to the predictions, each {@code COL} or {@code COL:NEW_NAME};
   *     a column the input lacks, or a name a predictions column has, is a usage error
   */
  public static Prepared prepare(JouleConfig config, DeltaIO.Pinned pinned, ModelSpec model,
      Precision precision, List<String> passthrough) {
    return prepare(config, pinned, model, precision, passthrough, rowScales(pinned, model.dim()));
  }

  /**
   * The dimension scales rows of {@code pinned} are divided by before quantizing, or null. Codes
   * quantized with dimension scales are scored by a kernel with the scales folded in; so are rows
   * quantized on the fly from an embeddings table that records them (joule embed's).
   */
  public static dev.joule.bridge.kernel.DimensionScales rowScales(DeltaIO.Pinned pinned, int dim) {
    boolean codesInput = Arrays.asList(pinned.data().schema().fieldNames()).containsAll(CODES_COLUMNS);
    return codesInput
        ? dev.joule.jobs.quantize.QuantizeJob.dimensionScales(pinned.data().sparkSession(), pinned.path(),
            pinned.version(), dim)
        : dev.joule.jobs.embed.EmbedJob.dimensionScales(pinned.data().sparkSession(), pinned.path(),
            pinned.version(), dim);
  }

  /** {@link #prepare} with the input's {@link #rowScales} already read (one log read for many kernels). */
  public static Prepared prepare(JouleConfig config, DeltaIO.Pinned pinned, ModelSpec model,
      Precision precision, List<String> passthrough, dev.joule.bridge.kernel.DimensionScales rowScales) {
    return prepare(config, pinned.data().schema(), pinned.path(), pinned.planned(), model, precision, passthrough,
        rowScales, kernel -> codesPrecision(pinned, kernel, model));
  }

  /**
   * As {@link #prepare(JouleConfig, DeltaIO.Pinned, ModelSpec, Precision, List)} for an input
   * whose columns are known without a Spark session, read from its log on the driver: an
   * embeddings table (a codes table's precision is read with Spark).
   *
   * @param schema the input's columns
   * @param planned how its files were found, in words
   */
  public static Prepared prepareOnDriver(JouleConfig config, StructType schema, String path, String planned,
      ModelSpec model, Precision precision, List<String> passthrough,
      dev.joule.bridge.kernel.DimensionScales rowScales) {
    return prepare(config, schema, path, planned, model, precision, passthrough, rowScales, kernel -> {
      throw new IllegalArgumentException(path + " is a codes table: its precision is read with Spark");
    });
  }

  private static Prepared prepare(JouleConfig config, StructType schema, String path, String planned,
      ModelSpec model, Precision precision, List<String> passthrough, dev.joule.bridge.kernel.DimensionScales rowScales,
      java.util.function.Function<Kernel, Precision> codesPrecision) {
    if (!model.modelId().matches("[A-Za-z0-9._:@-]+")) {
      throw JouleException.input("model_id '" + model.modelId()
          + "' may only contain letters, digits and . _ : @ -");
    }
    String idCol = config.string("score.id-col");
    boolean codesInput = Arrays.asList(schema.fieldNames()).containsAll(CODES_COLUMNS);
    Kernel kernel;
    try {
      kernel = model.kernel(precision, rowScales);
    } catch (IllegalArgumentException e) {
      throw JouleException.usage(e.getMessage());
    }
    String embCol = codesInput ? "codes" : config.string("score.embedding-col");
    for (String c : List.of(idCol, embCol)) {
      if (!Arrays.asList(schema.fieldNames()).contains(c)) {
        throw JouleException.input("input table " + path + " has no column '" + c
            + "' (columns: " + String.join(", ", schema.fieldNames()) + ")");
      }
    }
    EmbeddingColumn.Layout layout = null;
    Precision rowPrecision;
    if (codesInput) {
      rowPrecision = codesPrecision.apply(kernel);
    } else {
      try {
        layout = EmbeddingColumn.layoutOf(embCol, schema.apply(embCol).dataType());
      } catch (IllegalArgumentException e) {
        throw JouleException.input("input table " + path + ": " + e.getMessage());
      }
      Precision int4Rows = int4Rows(config); // checked at every precision, so a typo is not silent
      rowPrecision = kernel.precision() == Precision.INT4 ? int4Rows : null;
    }
    DataType idType = schema.apply(idCol).dataType();
    if (IdColumn.of(idType) == null) {
      LOG.info("id column '{}' is {}; predictions carry it as a string{}", idCol, idType.simpleString(),
          idType instanceof org.apache.spark.sql.types.BinaryType ? " of lowercase hex" : "");
    }
    IdColumn idKind = IdColumn.keyKind(idType);
    Column idExpr = IdColumn.key(col(idCol), idType);
    List<Passthrough> pass = passthrough.stream().map(Passthrough::parse).toList();
    return new Prepared(model, kernel, KernelInfo.of(kernel, rowPrecision), idKind, layout, idExpr,
        embCol, path, planned, pass, passthroughType(path, schema, pass), DuplicateIds.NONE);
  }

  /**
   * {@code score.int4-rows}: the rows an int4 kernel is sent; null: the kernel's own
   * ({@code auto}: int8 for per-channel weights and for rows divided by dimension scales, fp32
   * for column-channel weights on undivided rows).
   */
  static Precision int4Rows(JouleConfig config) {
    String v = config.string("score.int4-rows").trim().toLowerCase(java.util.Locale.ROOT);
    if (v.equals("auto")) {
      return null;
    }
    Precision p;
    try {
      p = Precision.parse(v);
    } catch (IllegalArgumentException e) {
      p = null;
    }
    if (p != Precision.INT8 && p != Precision.INT4) {
      throw JouleException.usage("score.int4-rows is '" + v + "'; it takes auto, int8 or int4");
    }
    return p;
  }

  private static StructType passthroughType(String path, StructType schema, List<Passthrough> pass) {
    StructType t = new StructType();
    java.util.Set<String> seen = new java.util.HashSet<>();
    List<String> names = Arrays.asList(schema.fieldNames());
    for (Passthrough p : pass) {
      if (!names.contains(p.column())) {
        throw JouleException.usage("passthrough column '" + p.column() + "' is not in input table " + path
            + " (columns: " + String.join(", ", names) + ")");
      }
      String as = p.as().toLowerCase(java.util.Locale.ROOT);
      if (PREDICTION_COLUMNS.contains(as)) {
        throw JouleException.usage("passthrough column '" + p.as() + "' has the name of a predictions column ("
            + String.join(", ", PREDICTION_COLUMNS) + "); carry it under another name: "
            + p.column() + ":input_" + p.column());
      }
      if (!seen.add(as)) {
        throw JouleException.usage("passthrough names '" + p.as() + "' twice");
      }
      t = t.add(p.as(), schema.apply(p.column()).dataType(), true);
    }
    return t;
  }

  /**
   * Scores {@code in} (from {@link Prepared#select}) once into {@code sink} and reconciles:
   * rows_in = scored + rejected, one energy row per partition summing to rows_in.
   */
  public static Staged stage(SparkSession spark, JouleConfig config, Prepared p, Dataset<Row> in,
      long rowsIn, String runId, String job, Sink sink) {
    EnergySpec energy = config.energySpec(JouleSpark.slotsPerExecutor(spark));
    // Named accumulators: the Spark UI's stage page shows the run's joules and rows.
    EnergyAccumulators accumulators = EnergyAccumulators.register(spark.sparkContext());
    ScoringSpec spec = spec(config, p, runId, job, energy, accumulators, gateSample(config, p, rowsIn, sink));
    ColumnarScan.Found columnar = !(sink instanceof TableFolders) ? new ColumnarScan.Found(null, "a staged run")
        : !config.bool("score.columnar-input") ? new ColumnarScan.Found(null, "score.columnar-input = false")
        : ColumnarScan.of(in);
    JavaRDD<InternalRow> rows = columnar.scan() == null ? in.queryExecution().toRdd().toJavaRDD() : null;
    int partitions = rows != null ? rows.getNumPartitions() : columnar.scan().partitions();
    LOG.info("run {}: scoring {} rows of {} ({}, {}, read as {}) with {} (kernel {}), rows at {}, {} rows per batch, on {}",
        runId, rowsIn, p.inputPath(), p.codes() ? "codes" : "embeddings", p.inputPlanned(),
        rows == null ? columnar.scan().describe() : "rows: " + columnar.whyRows(), p.kernel().displayName(),
        p.info().id().substring(0, 12), p.info().rowPrecision(), spec.effectiveBatchRows(),
        spec.bridge() == null ? "the in-process node" : spec.bridge());
    if (!p.kernel().quantizationNote().isEmpty()) {
      LOG.info("run {}: {} {}", runId, p.kernel().displayName(), p.kernel().quantizationNote());
    }
    spark.sparkContext().setJobDescription("joule " + job + " " + runId + " (" + p.kernel().displayName() + ")");
    JouleEnergyListener listener = new JouleEnergyListener(accumulators);
    spark.sparkContext().addSparkListener(listener);
    long job0 = System.nanoTime();
    long jobNanos;
    List<TaskOutput> outputs = null;
    StructType stagedSchema = StagedRows.schema(p.idKind().sparkType(), p.passthroughType());
    ConsoleProgress.phase("scoring", rowsIn);
    ConsoleProgress.extra(() -> ScoringProgress.message(accumulators));
    try {
      if (sink instanceof Staging st) {
        spark.createDataFrame(rows.mapPartitions(new PartitionScorer(spec)), stagedSchema)
            .write().mode("overwrite").parquet(st.folder());
      } else {
        TableFolders t = (TableFolders) sink;
        TableFiles predictions = TableFiles.prepare(spark, t.predictions(), t.columns().predictionsSchema(), t.fileTag());
        TableFiles rejects = TableFiles.prepare(spark, t.rejects(), t.columns().rejectsSchema(), t.fileTag());
        long failAfter = config.integer("testing.fail-first-attempt-after-rows");
        outputs = rows != null
            ? rows.mapPartitions(PartitionFiles.ofRows(spec, t.columns(), predictions, rejects, failAfter)).collect()
            : scoreParts(spark, columnar.scan(), spec, t.columns(), predictions, rejects, failAfter).collect();
      }
      jobNanos = System.nanoTime() - job0;
      drainListeners(spark);
    } catch (Exception e) { // SparkException is checked in Java terms and thrown without a declaration
      // A node failure reaches the driver wrapped in Spark's task-failure text: say it plainly.
      for (Throwable c = e; c != null; c = c.getCause()) {
        if (c instanceof NodeException) {
          throw new JouleException(JouleException.OTHER, "scoring failed, nothing committed: " + c.getMessage(), e);
        }
      }
      throw e;
    } finally {
      spark.sparkContext().removeSparkListener(listener);
      spark.sparkContext().setJobDescription(null);
    }
    ConsoleProgress.phase("reconciling");
    JouleEnergyListener.Totals seen = listener.total();
    LOG.info("run {}: Spark accumulators: {} rows, {} J estimated_cputime{} over {} tasks", runId, seen.rows(),
        String.format(java.util.Locale.ROOT, "%.3f", seen.estimatedJ()),
        seen.measuredJ() > 0 ? String.format(java.util.Locale.ROOT, ", %.3f J measured", seen.measuredJ()) : "",
        seen.tasks());
    return outputs == null
        ? reconcileStaged(spark, ((Staging) sink).folder(), stagedSchema, rowsIn, partitions, energy, seen, jobNanos, sink)
        : reconcileOutputs(outputs, rowsIn, partitions, energy, seen, jobNanos, sink, spec.gateSample(),
            rows == null ? "columnar" : "rows");
  }

  /** What every partition of a run is told: its kernel, columns, batch sizes, energy settings and gate sample. */
  private static ScoringSpec spec(JouleConfig config, Prepared p, String runId, String job, EnergySpec energy,
      EnergyAccumulators accumulators, GateSample sample) {
    try {
      return new ScoringSpec(runId, job, p.info(), p.idKind(), p.layout(),
          config.integer("score.batch-rows"), config.bytes("score.max-batch-bytes"),
          config.bool("score.keep-scores"), energy, config.integer("testing.fail-partition"),
          config.bridgeSettings(), accumulators, config.integer("testing.batch-delay-ms"),
          p.passthroughType(), p.duplicates(), sample);
    } catch (IllegalArgumentException e) {
      throw JouleException.usage(e.getMessage());
    }
  }

  /**
   * Scores the rows of {@code batches} on this thread, as one partition with no Spark session,
   * into the tables' data files as a task writes them ({@link PartitionFiles}, reading the batches
   * as a columnar scan's), and reconciles them as {@link #stage} does: a night read and scored on
   * the driver. Where it fails, the partition's files are gone.
   *
   * @param scanColumns for each of {@link Prepared#select}'s columns, its ordinal in the batches
   * @param settings the Hadoop and SQL settings the files are written with, and the slots
   *     the machine's energy is shared among
   */
  public static Staged stageOnDriver(JouleConfig config, Prepared p,
      java.util.Iterator<org.apache.spark.sql.vectorized.ColumnarBatch> batches, int[] scanColumns, long rowsIn,
      String runId, String job, TableFolders sink, dev.joule.jobs.config.DriverSettings settings) {
    EnergySpec energy = config.energySpec(settings.slots());
    GateSample sample = gateSample(config, p, rowsIn, sink);
    if (rowsIn == 0 && !batches.hasNext()) {
      // No rows, no partition: as Spark's pass over an empty input, nothing to write or measure.
      return reconcileOutputs(List.of(), 0, 0, energy, new JouleEnergyListener.Totals(0, 0, 0, 0), 0, sink, sample,
          "rows");
    }
    ScoringSpec spec = spec(config, p, runId, job, energy, null, sample);
    LOG.info("run {}: scoring {} rows of {} on the driver ({}) with {} (kernel {}), rows at {}, {} rows per batch, "
        + "on {}", runId, rowsIn, p.inputPath(), p.inputPlanned(), p.kernel().displayName(),
        p.info().id().substring(0, 12), p.info().rowPrecision(), spec.effectiveBatchRows(),
        spec.bridge() == null ? "the in-process node" : spec.bridge());
    TableFiles predictions = TableFiles.prepareWithoutSession(settings.hadoop(), settings.sql(), sink.predictions(),
        sink.columns().predictionsSchema(), sink.fileTag());
    TableFiles rejects = TableFiles.prepareWithoutSession(settings.hadoop(), settings.sql(), sink.rejects(),
        sink.columns().rejectsSchema(), sink.fileTag());
    ConsoleProgress.phase("scoring", rowsIn);
    long job0 = System.nanoTime();
    List<TaskOutput> outputs = new ArrayList<>();
    try {
      PartitionFiles.ofColumnar(spec, scanColumns, null, sink.columns(), predictions, rejects, -1).call(batches)
          .forEachRemaining(outputs::add);
    } catch (NodeException e) {
      throw new JouleException(JouleException.OTHER, "scoring failed, nothing committed: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new IllegalStateException("scoring on the driver failed: " + e.getMessage(), e);
    }
    long jobNanos = System.nanoTime() - job0;
    ConsoleProgress.phase("reconciling");
    TaskOutput o = outputs.get(0);
    JouleEnergyListener.Totals seen = new JouleEnergyListener.Totals(o.scored(), 0, 0, 0);
    return reconcileOutputs(outputs, rowsIn, 1, energy, seen, jobNanos, sink, sample, "rows");
  }

  /**
   * One scoring pass over every part of a columnar input, as one Spark job: each scan's batches
   * with its own columns and filter, any branch of rows as rows.
   */
  private static JavaRDD<TaskOutput> scoreParts(SparkSession spark, ColumnarScan scan, ScoringSpec spec,
      RunColumns columns, TableFiles predictions, TableFiles rejects, long failAfter) {
    List<JavaRDD<TaskOutput>> tasks = new ArrayList<>();
    for (ColumnarScan.Part part : scan.parts()) {
      tasks.add(part.batches() == null
          ? part.rows().mapPartitions(PartitionFiles.ofRows(spec, columns, predictions, rejects, failAfter))
          : part.batches().mapPartitions(PartitionFiles.ofColumnar(spec, part.columns(), part.filter(), columns,
              predictions, rejects, failAfter)));
    }
    if (tasks.size() == 1) {
      return tasks.get(0);
    }
    @SuppressWarnings("unchecked")
    JavaRDD<TaskOutput>[] all = tasks.toArray(new JavaRDD[0]);
    return new org.apache.spark.api.java.JavaSparkContext(spark.sparkContext()).union(all);
  }

  /**
   * The rows the tasks keep for the quality gate (their published answers, and for embedding
   * rows their fp32 values): none unless the gate will compare this attempt (a quantized kernel)
   * and the tasks return outputs (a staging sink is read back by the gate instead). A codes run
   * picks its rows by the same hash rule as {@code joule quantize} picked the fp32 rows it kept.
   */
  private static GateSample gateSample(JouleConfig config, Prepared p, long rowsIn, Sink sink) {
    if (!(sink instanceof TableFolders) || p.kernel().precision() == Precision.FP32) {
      return GateSample.NONE;
    }
    return GateSample.of(rowsIn, QualityGate.Settings.from(config).sampleRowsFor(p.kernel()), SAMPLE_MARGIN);
  }

  /** Rows kept per row the gate takes: a hash sample's count varies by about 1 %. */
  public static final double SAMPLE_MARGIN = 1.1;

  /** Reconciles from the tasks' own counters: one output per partition, nothing read back. */
  private static Staged reconcileOutputs(List<TaskOutput> outputs, long rowsIn, int partitions, EnergySpec energy,
      JouleEnergyListener.Totals seen, long jobNanos, Sink sink, GateSample sample, String inputRead) {
    long in = 0;
    long scored = 0;
    long rejected = 0;
    Map<String, Long> reasons = new TreeMap<>();
    Map<String, String> examples = new TreeMap<>();
    List<Row> energyRows = new java.util.ArrayList<>();
    List<TaskOutput.WrittenFile> files = new java.util.ArrayList<>();
    SampledRows sampled = SampledRows.empty();
    List<Object> ids = null;
    java.util.Set<Integer> seenPartitions = new java.util.HashSet<>();
    boolean consistent = true;
    for (TaskOutput o : outputs) {
      in += o.rowsIn();
      scored += o.scored();
      rejected += o.rejected();
      o.reasons().forEach((k, v) -> reasons.merge(k, v, Long::sum));
      o.examples().forEach(examples::putIfAbsent);
      // As Spark would read it back (arrays as Seqs), so every reader of energy rows sees one form.
      energyRows.add(dev.joule.udfs.EnergyRecord.asRead(o.energy()));
      files.addAll(o.files());
      sampled.addAll(o.sampled());
      if (o.ids() != null) {
        if (ids == null) {
          ids = new java.util.ArrayList<>();
        }
        ids.addAll(o.ids());
        consistent &= o.ids().size() == o.scored();
      }
      long filed = o.files().stream().mapToLong(TaskOutput.WrittenFile::rows).sum();
      consistent &= seenPartitions.add(o.partition()) && o.rowsIn() == o.scored() + o.rejected()
          && filed == o.scored() + o.rejected() && o.energy() != null;
    }
    if (!consistent || in != rowsIn || scored + rejected != rowsIn || outputs.size() != partitions) {
      throw new JouleException(JouleException.OTHER, "reconciliation failed, nothing committed: rows_in " + rowsIn
          + " (tasks counted " + in + ") != scored " + scored + " + rejected " + rejected + " (" + outputs.size()
          + " task outputs for " + partitions + " partitions)");
    }
    return new Staged(null, rowsIn, scored, rejected, energyRows, reasons, energy, partitions, seen, jobNanos, sink,
        files, examples, sample.isEmpty() ? null : sampled, inputRead, ids);
  }

  private static Staged reconcileStaged(SparkSession spark, String staging, StructType stagedSchema, long rowsIn,
      int partitions, EnergySpec energy, JouleEnergyListener.Totals seen, long jobNanos, Sink sink) {
    Dataset<Row> staged = spark.read().schema(stagedSchema).parquet(staging);
    // One aggregate, no shuffle: a groupBy(kind) would cost a stage of its own.
    Row counts = staged.agg(
        org.apache.spark.sql.functions.count_if(col("kind").equalTo(StagedRows.PREDICTION)),
        org.apache.spark.sql.functions.count_if(col("kind").equalTo(StagedRows.REJECT))).head();
    long scored = counts.getLong(0);
    long rejected = counts.getLong(1);
    List<Row> energyRows = staged.filter(col("kind").equalTo(StagedRows.ENERGY))
        .select("energy.*").collectAsList();
    long energyRowsIn = energyRows.stream().mapToLong(r -> r.<Long>getAs("rows_in")).sum();
    if (rowsIn != scored + rejected || energyRowsIn != rowsIn || energyRows.size() != partitions) {
      throw new JouleException(JouleException.OTHER, "reconciliation failed, nothing committed: "
          + "rows_in " + rowsIn + " != scored " + scored + " + rejected " + rejected
          + " (partitions counted " + energyRowsIn + " rows in " + energyRows.size() + " energy rows for "
          + partitions + " partitions)");
    }
    Map<String, Long> reasons = new TreeMap<>();
    Map<String, String> examples = new TreeMap<>();
    if (rejected > 0) {
      for (Row r : staged.filter(col("kind").equalTo(StagedRows.REJECT))
          .groupBy(substring_index(col("reason"), ":", 1)).agg(org.apache.spark.sql.functions.count("*"),
              org.apache.spark.sql.functions.min("reason")).collectAsList()) {
        reasons.put(r.getString(0), r.getLong(1));
        examples.put(r.getString(0), r.getString(2));
      }
    }
    return new Staged(staged, rowsIn, scored, rejected, energyRows, reasons, energy, partitions, seen, jobNanos, sink,
        List.of(), examples, null, "rows", null);
  }

  /**
   * Removes what {@code sink} holds of this run that was not committed: the staging folder, or
   * the run's data files in the table folders except those in {@code committed}
   * ({@link dev.joule.jobs.delta.UncommittedFiles#key}s). Never throws.
   */
  public static void discard(SparkSession spark, Sink sink, java.util.Set<String> committed) {
    if (sink instanceof Staging st) {
      deleteStaging(spark, st.folder());
      return;
    }
    TableFolders t = (TableFolders) sink;
    dev.joule.jobs.delta.UncommittedFiles.delete(spark, List.of(t.predictions(), t.rejects()), t.fileTag(), committed);
  }

  /** Lets the listener bus deliver the job's task-end events before listeners are read or removed. */
  public static void drainListeners(SparkSession spark) {
    try {
      spark.sparkContext().listenerBus().waitUntilEmpty(30_000);
    } catch (java.util.concurrent.TimeoutException e) {
      LOG.warn("Spark's listener bus did not drain in 30 s; the accumulator totals logged may be short");
    }
  }

  /** Removes a run's staging folder (and its parent when empty); never throws. */
  public static void deleteStaging(SparkSession spark, String path) {
    try {
      DeltaIO.deletePath(spark, path);
      org.apache.hadoop.fs.Path parent = new org.apache.hadoop.fs.Path(path).getParent();
      org.apache.hadoop.fs.FileSystem fs = parent.getFileSystem(spark.sparkContext().hadoopConfiguration());
      if (fs.exists(parent) && fs.listStatus(parent).length == 0) {
        fs.delete(parent, false);
      }
    } catch (java.io.IOException | RuntimeException e) {
      LOG.warn("could not remove staging folder {}: {}", path, e.toString());
    }
  }

  /** CPU time of this whole process: with a run's task CPU, it gives the run's fixed cost. */
  public static long processCpuNanos() {
    return java.lang.management.ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os ? os.getProcessCpuTime() : 0;
  }

  /** The codes table's precision (from its properties, else from one row), checked against the kernel; its dim too. */
  private static Precision codesPrecision(DeltaIO.Pinned pinned, Kernel kernel, ModelSpec model) {
    // joule quantize writes a whole codes table in one commit, with its precision and dim as
    // table properties: read at the pinned version, they name what every row holds, with no job.
    java.util.Map<String, String> props = DeltaIO.properties(pinned.data().sparkSession(), pinned.path(),
        pinned.version());
    String label = props.get(dev.joule.jobs.quantize.QuantizeJob.PRECISION_PROPERTY);
    String dimProperty = props.get(dev.joule.jobs.quantize.QuantizeJob.DIM_PROPERTY);
    int dim;
    try {
      if (label != null && dimProperty != null) {
        dim = Integer.parseInt(dimProperty);
      } else {
        // Other tables: one row of a precision the kernel takes names the precision and dim
        // read: a row of another precision is rejected by the scorer (wrong_precision), another
        // dim by its byte length (wrong_dim). A limit, which stops at the first such row; only a
        // table with none is read through (its precision column), and then any row says which
        // precision the table holds.
        List<Row> rows = pinned.data().filter(col("precision").isin(kernel.precision().label(),
            kernel.queryPrecision().label())).select("precision", "dim").limit(1).collectAsList();
        if (rows.isEmpty()) {
          rows = pinned.data().select("precision", "dim").limit(1).collectAsList();
        }
        if (rows.isEmpty()) {
          return kernel.queryPrecision();
        }
        label = rows.get(0).getString(0);
        dim = ((Number) rows.get(0).get(1)).intValue();
      }
    } catch (NumberFormatException e) {
      throw JouleException.input("codes table " + pinned.path() + ": property "
          + dev.joule.jobs.quantize.QuantizeJob.DIM_PROPERTY + " = '" + dimProperty + "' is not a number");
    }
    Precision p;
    try {
      p = Precision.parse(label);
    } catch (IllegalArgumentException e) {
      throw JouleException.input("codes table " + pinned.path() + ": " + e.getMessage());
    }
    if (dim != model.dim()) {
      throw JouleException.input("codes table " + pinned.path() + " has dim " + dim + ", the model expects " + model.dim());
    }
    if (!kernel.reads(p)) {
      throw JouleException.usage("codes table " + pinned.path() + " holds " + p + " codes; score it with --precision "
          + p + " (the kernel asked for takes " + kernel.queryPrecision() + " rows)");
    }
    return p;
  }
}
