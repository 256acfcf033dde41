package dev.joule.jobs.quantize;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.substring_index;

import dev.joule.bridge.kernel.DimensionScales;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.delta.TableCommit;
import dev.joule.jobs.score.QualityGate;
import dev.joule.udfs.EmbeddingColumn;
import dev.joule.udfs.GateSample;
import dev.joule.udfs.IdColumn;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;

/**
 * {@code joule quantize}: an embeddings table → a codes table, once, so nightly scoring reads
 * 4× (int8), 8× (int4) or 32× (binary) fewer bytes of rows. Columns: {@code id}, {@code codes}
 * (the row's codes as the kernels read them), {@code scale}, {@code norm} (of the fp32 row, for
 * cosine), {@code precision}, {@code dim}, {@code embedding_hash} (SHA-256 of the row's float32
 * bytes, first 128 bits, to spot changed rows), {@code source_version} (the embeddings table's
 * Delta version). Bad rows go to a rejects table with a reason; counts are reconciled first.
 */
public final class QuantizeJob {

  public record Request(String input, Precision precision, String output, String rejects, Integer dim) {}

  public record Result(long rowsIn, long quantized, long rejected, int dim, long sourceVersion,
      Map<String, Long> reasons, String table, String rejectsTable) {}

  private final SparkSession spark;
  private final JouleConfig config;

  public QuantizeJob(SparkSession spark, JouleConfig config) {
    this.spark = spark;
    this.config = config;
  }

  public Result run(Request r) {
    if (r.precision() == Precision.FP32) {
      throw JouleException.usage("--precision must be int8, int4 or binary (fp32 rows are the embeddings themselves)");
    }
    dev.joule.jobs.delta.OutputPaths.requireWritable(spark, r.output(), "--output");
    dev.joule.jobs.delta.OutputPaths.requireWritable(spark, r.rejects(), "rejects table");
    dev.joule.jobs.delta.OutputPaths.requireWritable(spark, gateSample(r.output()), "gate sample table");
    DeltaIO.Pinned pinned = DeltaIO.readPinned(spark, r.input(), "input");
    String idCol = config.string("score.id-col");
    String embCol = config.string("score.embedding-col");
    StructType schema = pinned.data().schema();
    for (String c : List.of(idCol, embCol)) {
      if (!Arrays.asList(schema.fieldNames()).contains(c)) {
        throw JouleException.input("input table " + r.input() + " has no column '" + c
            + "' (columns: " + String.join(", ", schema.fieldNames()) + ")");
      }
    }
    EmbeddingColumn.Layout layout;
    try {
      layout = EmbeddingColumn.layoutOf(embCol, schema.apply(embCol).dataType());
    } catch (IllegalArgumentException e) {
      throw JouleException.input("input table " + r.input() + ": " + e.getMessage());
    }
    DataType idType = schema.apply(idCol).dataType();
    IdColumn idKind = IdColumn.keyKind(idType);
    Column idExpr = IdColumn.key(col(idCol), idType);
    Dataset<Row> in = pinned.data().select(idExpr.as("id"), col(embCol).as("embedding"));
    int dim = r.dim() != null ? r.dim() : inferDim(in, r.input());

    StructType out = new StructType()
        .add("id", idKind.sparkType(), true)
        .add("codes", DataTypes.BinaryType, true)
        .add("scale", DataTypes.FloatType, true)
        .add("norm", DataTypes.FloatType, true)
        .add("embedding_hash", DataTypes.StringType, true)
        .add("reason", DataTypes.StringType, true)
        .add("sample", DataTypes.createArrayType(DataTypes.FloatType, false), true);
    // The fp32 rows of the quality gate's sample, kept beside the codes: a run scoring this codes
    // table compares with them instead of reading the whole embeddings table again.
    GateSample sampled = GateSample.of(pinned.data().count(), config.integer("quality.sample-rows"),
        dev.joule.jobs.score.Scoring.SAMPLE_MARGIN);
    DimensionScales scales = dimensionScales(in, r.precision(), dim, layout);
    Dataset<Row> staged = spark.createDataFrame(in.queryExecution().toRdd().toJavaRDD()
            .mapPartitions(new Encode(r.precision(), dim, layout, idKind, sampled, scales)), out)
        .persist(StorageLevel.MEMORY_AND_DISK());
    try {
      long rowsIn = in.count();
      dev.joule.jobs.console.ConsoleProgress.phase("quantizing", rowsIn);
      Dataset<Row> codes = staged.filter(col("reason").isNull()).select(col("id"), col("codes"),
          col("scale"), col("norm"), lit(r.precision().label()).as("precision"), lit(dim).as("dim"),
          col("embedding_hash"), lit(pinned.version()).as("source_version"));
      Dataset<Row> rejects = staged.filter(col("reason").isNotNull()).select(col("id").cast("string").as("id"),
          col("reason"), lit(pinned.version()).as("source_version"));
      long quantized = codes.count();
      long rejected = rejects.count();
      if (rowsIn != quantized + rejected) {
        throw new JouleException(JouleException.OTHER, "reconciliation failed, nothing written: in "
            + rowsIn + " != quantized " + quantized + " + rejected " + rejected);
      }
      Map<String, Long> reasons = new TreeMap<>();
      for (Row x : rejects.groupBy(substring_index(col("reason"), ":", 1)).count().collectAsList()) {
        reasons.put(x.getString(0), x.getLong(1));
      }
      if (quantized == 0 && rowsIn > 0) {
        throw JouleException.input(String.format(java.util.Locale.ROOT,
            "all %,d rows rejected (%s, e.g. %s); nothing written", rowsIn, reasons,
            rejects.select("reason").head().getString(0)));
      }
      dev.joule.jobs.console.ConsoleProgress.phase("commit");
      TableCommit commit = new TableCommit(spark);
      try {
        // The codes with what reading them needs, in one commit: where the fp32 rows are (the
        // quality gate compares a codes run with them), the precision, and the dimension scales
        // the rows were divided by (a reader must never see codes with another table's scales).
        // A re-quantize keeps the table's other properties (a user's delta.* settings); ours are
        // all set anew (a stale gate-sample version would name the old sample).
        Map<String, String> properties = new TreeMap<>();
        if (DeltaIO.exists(spark, r.output())) {
          DeltaIO.properties(spark, r.output()).forEach((k, v) -> {
            if (!k.startsWith("joule.")) {
              properties.put(k, v);
            }
          });
        }
        properties.put(QualityGate.SOURCE_PROPERTY, DeltaIO.qualified(spark, r.input()));
        properties.put(PRECISION_PROPERTY, r.precision().label());
        properties.put(DIM_PROPERTY, Integer.toString(dim));
        properties.put(SOURCE_VERSION_PROPERTY, Long.toString(pinned.version()));
        if (scales != null) {
          properties.put(DIMENSION_SCALES_PROPERTY, scales.encoded());
        }
        commit.replace(r.output(), codes, properties);
        commit.overwriteRejects(r.rejects(), rejects, rejected);
        if (!sampled.isEmpty()) {
          // Written before the property that names its version, so the property never points at
          // rows that are not there; a crash between the two leaves a stale version, which the
          // gate then ignores.
          commit.overwrite(gateSample(r.output()), staged.filter(col("reason").isNull().and(col("sample").isNotNull()))
              .select(col("id"), col("sample").as("embedding")));
          commit.sql(r.output(), "ALTER TABLE delta.`" + DeltaIO.qualified(spark, r.output()).replace("`", "``")
              + "` SET TBLPROPERTIES ('" + GATE_SAMPLE_VERSION_PROPERTY + "' = '" + pinned.version() + "')");
        }
      } catch (Exception | Error e) { // AnalysisException and SparkException are checked in Java terms
        commit.rollback();
        throw e;
      }
      return new Result(rowsIn, quantized, rejected, dim, pinned.version(), reasons, r.output(), r.rejects());
    } finally {
      staged.unpersist();
    }
  }

  /**
   * Table property of a codes table: the version of its embeddings table that the fp32 rows in
   * {@link #gateSample} come from. The gate uses them only when the codes rows say the same.
   */
  public static final String GATE_SAMPLE_VERSION_PROPERTY = "joule.gate-sample.source-version";

  /**
   * The Delta table of fp32 rows (id, embedding) sampled for the quality gate: beside the codes
   * table, like its rejects table (Delta takes a folder inside a table's folder for part of it).
   */
  public static String gateSample(String codesTable) {
    return codesTable.replaceAll("/+$", "") + "_gate_sample";
  }

  /**
   * Table property of an int8 or int4 codes table: the per-dimension scales its rows were divided
   * by before quantizing (base64 float32 LE, {@link DimensionScales#encoded()}); a run scoring the
   * table folds them into its kernel. Absent: rows quantized as they are (binary codes, older tables).
   */
  public static final String DIMENSION_SCALES_PROPERTY = "joule.codes.dimension-scales";

  /**
   * The dimension scales the codes table at {@code path}, version {@code version}, was quantized
   * with, or null (the rows read at a version go with that version's scales). A table of
   * another dim than {@code dim} (the model's) is refused here, with the dim check's message.
   */
  public static DimensionScales dimensionScales(SparkSession spark, String path, long version, int dim) {
    String s = DeltaIO.properties(spark, path, version).get(DIMENSION_SCALES_PROPERTY);
    if (s == null) {
      return null;
    }
    DimensionScales e;
    try {
      e = DimensionScales.parse(s);
    } catch (IllegalArgumentException ex) {
      throw JouleException.input("codes table " + path + ": property " + DIMENSION_SCALES_PROPERTY + ": " + ex.getMessage());
    }
    if (e.dim() != dim) {
      throw JouleException.input("codes table " + path + " has dim " + e.dim() + ", the model expects " + dim);
    }
    return e;
  }

  /**
   * int8 and int4: the largest |x| of each dimension over all valid rows (one pass over the
   * input, a one-off like the whole of quantize). Binary: null (sign bits do not change when a
   * dimension is scaled).
   */
  static DimensionScales dimensionScales(Dataset<Row> in, Precision p, int dim, EmbeddingColumn.Layout layout) {
    if (p != Precision.INT8 && p != Precision.INT4) {
      return null;
    }
    float[] max = in.queryExecution().toRdd().toJavaRDD().mapPartitions(new MaxAbs(dim, layout))
        .fold(new float[dim], (a, b) -> {
          for (int c = 0; c < dim; c++) {
            a[c] = Math.max(a[c], b[c]);
          }
          return a;
        });
    return DimensionScales.ofMaxAbs(max);
  }

  /** The largest |x_c| of a partition's valid rows. */
  static final class MaxAbs implements FlatMapFunction<Iterator<InternalRow>, float[]> {
    private final int dim;
    private final EmbeddingColumn.Layout layout;

    MaxAbs(int dim, EmbeddingColumn.Layout layout) {
      this.dim = dim;
      this.layout = layout;
    }

    @Override
    public Iterator<float[]> call(Iterator<InternalRow> rows) {
      EmbeddingColumn col = new EmbeddingColumn(layout, dim);
      float[] v = new float[dim];
      float[] max = new float[dim];
      while (rows.hasNext()) {
        // Only rows Encode keeps: a row whose norm overflows float is rejected there, and its
        // values would set scales that round every other row's to 0.
        if (col.read(rows.next(), 1, v, 0) == null && EncodedRows.normDouble(v, 0, dim) <= Float.MAX_VALUE) {
          DimensionScales.accumulateMaxAbs(v, 0, max);
        }
      }
      return List.of(max).iterator();
    }
  }

  /** Table property of a codes table: the precision of its codes, read by score when --precision is left out. */
  public static final String PRECISION_PROPERTY = "joule.codes.precision";

  /** Table property of a codes table: the dim of its rows (written with the rows, in one commit). */
  public static final String DIM_PROPERTY = "joule.codes.dim";

  /**
   * Table property of a codes table: the version of its embeddings table ({@code joule.source})
   * that every row was quantized from, as each row's {@code source_version} also says.
   */
  public static final String SOURCE_VERSION_PROPERTY = "joule.codes.source-version";

  /**
   * The precision of the codes table at {@code path}, or empty when it is not a codes table. From
   * the table property (no Spark job); a codes table written before the property existed is
   * probed with one row.
   */
  public static java.util.Optional<Precision> codesPrecision(SparkSession spark, String path) {
    if (!DeltaIO.exists(spark, path)) {
      return java.util.Optional.empty();
    }
    String label = DeltaIO.properties(spark, path).get(PRECISION_PROPERTY);
    if (label == null) {
      Dataset<Row> table = spark.read().format("delta").load(path);
      if (!Arrays.asList(table.schema().fieldNames()).containsAll(java.util.List.of("codes", "precision"))) {
        return java.util.Optional.empty();
      }
      java.util.List<Row> one = table.select("precision").limit(1).collectAsList();
      if (one.isEmpty()) {
        return java.util.Optional.empty();
      }
      label = one.get(0).getString(0);
    }
    try {
      return java.util.Optional.of(Precision.parse(label));
    } catch (IllegalArgumentException e) {
      throw JouleException.input("codes table " + path + ": " + e.getMessage());
    }
  }

  private static int inferDim(Dataset<Row> in, String path) {
    int dim = dev.joule.jobs.mllib.MllibFeatures.commonDim(in, "embedding");
    if (dim == 0 && in.isEmpty()) {
      throw JouleException.input("input table " + path + " has no rows; nothing quantized");
    }
    if (dim == 0) {
      throw JouleException.input("input table " + path + " has no embedding to infer the dimension from; pass --dim");
    }
    return dim;
  }

  /**
   * Why a finite row's encoding cannot be stored, or null: its norm (or scale) is beyond the float
   * range, as with values near the float limit (two values of 3e38 have a norm of 4.2e38).
   */
  static String unrepresentable(EncodedRows e, float[] v) {
    if (!Float.isFinite(e.norms()[0])) {
      return String.format(java.util.Locale.ROOT, "non_finite: norm overflows float (%.4g > %.4g)",
          EncodedRows.normDouble(v, 0, e.dim()), Float.MAX_VALUE);
    }
    if (!Float.isFinite(e.scales()[0])) {
      return "non_finite: scale overflows float (" + e.scales()[0] + ")";
    }
    return null;
  }

  /** Quantizes each valid row; invalid ones come out with a reason. Runs on executors. */
  static final class Encode implements FlatMapFunction<Iterator<InternalRow>, Row> {
    private final Precision precision;
    private final int dim;
    private final EmbeddingColumn.Layout layout;
    private final IdColumn idKind;
    private final GateSample sample;
    private final DimensionScales scales;

    Encode(Precision precision, int dim, EmbeddingColumn.Layout layout, IdColumn idKind, GateSample sample,
        DimensionScales scales) {
      this.precision = precision;
      this.dim = dim;
      this.layout = layout;
      this.idKind = idKind;
      this.sample = sample;
      this.scales = scales;
    }

    @Override
    public Iterator<Row> call(Iterator<InternalRow> rows) throws Exception {
      EmbeddingColumn col = new EmbeddingColumn(layout, dim);
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      float[] v = new float[dim];
      return new Iterator<>() {
        @Override
        public boolean hasNext() {
          return rows.hasNext();
        }

        @Override
        public Row next() {
          InternalRow row = rows.next();
          Object id = idKind.read(row, 0);
          String reason = id == null ? "null_id: id is null" : col.read(row, 1, v, 0);
          if (reason != null) {
            return RowFactory.create(id, null, null, null, null, reason, null);
          }
          EncodedRows e = EncodedRows.encode(precision, 1, dim, v, scales);
          reason = unrepresentable(e, v);
          if (reason != null) {
            return RowFactory.create(id, null, null, null, null, reason, null);
          }
          String hash = HexFormat.of().formatHex(sha.digest(EmbeddingColumn.packF32le(v)), 0, 16);
          return RowFactory.create(id, Arrays.copyOf(e.codes(), e.stride()), e.scales()[0], e.norms()[0], hash, null,
              sample.includes(id) ? v.clone() : null);
        }
      };
    }
  }
}
