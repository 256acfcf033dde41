package dev.joule.jobs.model;

import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.kernel.Similarity;
import dev.joule.bridge.kernel.TopKKernel;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.udfs.EmbeddingColumn;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;

/**
 * A top-k "model": a reference set of embeddings (a Delta table) read once on the driver and
 * pushed to each node inside the kernel, so it is content-addressed and cached like any kernel.
 * Its version is the reference table's Delta version.
 */
public final class ReferenceSet implements ModelSpec {

  private final String modelId;
  private final long version;
  private final float[] values;
  private final List<String> ids;
  private final int dim;
  private final Similarity metric;
  private final int k;
  private final int oversample;
  private final String rescore; // "auto", "none", "int8", "fp32"

  private ReferenceSet(String modelId, long version, float[] values, List<String> ids, int dim,
      Similarity metric, int k, int oversample, String rescore) {
    this.modelId = modelId;
    this.version = version;
    this.values = values;
    this.ids = ids;
    this.dim = dim;
    this.metric = metric;
    this.k = k;
    this.oversample = oversample;
    this.rescore = rescore;
  }

  /** A reference set with the job config's columns and {@code topk.*} settings. */
  public static ReferenceSet load(SparkSession spark, dev.joule.jobs.config.JouleConfig config, String path) {
    return load(spark, path, config.string("score.id-col"), config.string("score.embedding-col"),
        config.string("topk.metric"), config.integer("topk.k"), config.integer("topk.oversample"),
        config.string("topk.rescore"), config.integer("topk.max-reference-rows"));
  }

  /**
   * @param rescore {@code auto} (int8 for binary, none otherwise), {@code none}, {@code int8} or {@code fp32}
   */
  public static ReferenceSet load(SparkSession spark, String path, String idCol, String embCol,
      String metric, int k, int oversample, String rescore, int maxRows) {
    // Every setting first: a reference set may be large, and a typo should not wait for it.
    Similarity sim = checkSettings(metric, k, oversample, rescore);
    DeltaIO.Pinned pinned = DeltaIO.readPinned(spark, path, "reference set");
    var schema = pinned.data().schema();
    for (String c : List.of(idCol, embCol)) {
      if (!java.util.Arrays.asList(schema.fieldNames()).contains(c)) {
        throw JouleException.input("reference set " + path + " has no column '" + c + "'");
      }
    }
    EmbeddingColumn.Layout layout;
    try {
      layout = EmbeddingColumn.layoutOf(embCol, schema.apply(embCol).dataType());
    } catch (IllegalArgumentException e) {
      throw JouleException.input("reference set " + path + ": " + e.getMessage());
    }
    var data = pinned.data().select(
        dev.joule.udfs.IdColumn.key(pinned.data().col(idCol), schema.apply(idCol).dataType()).cast("string"),
        pinned.data().col(embCol));
    long n = data.count();
    if (n == 0) {
      throw JouleException.input("reference set " + path + " is empty");
    }
    if (k > n) {
      throw JouleException.usage("top-k: k must be in 1.." + n + " (reference rows), got " + k);
    }
    if (n > maxRows) {
      throw JouleException.input("reference set " + path + " has " + n + " rows, over the limit of "
          + maxRows + " (topk.max-reference-rows): it is held in memory on every node");
    }
    List<InternalRow> rows = new ArrayList<>();
    data.queryExecution().toRdd().toJavaRDD().map(InternalRow::copy).collect().forEach(rows::add);
    int dim = (int) (layout == EmbeddingColumn.Layout.BINARY_F32LE
        ? rows.get(0).getBinary(1).length / 4 : rows.get(0).getArray(1).numElements());
    EmbeddingColumn col = new EmbeddingColumn(layout, dim);
    float[] values = new float[rows.size() * dim];
    List<String> ids = new ArrayList<>(rows.size());
    for (int r = 0; r < rows.size(); r++) {
      InternalRow row = rows.get(r);
      String id = row.isNullAt(0) ? null : row.getUTF8String(0).toString();
      String reason = id == null ? "null id" : col.read(row, 1, values, r * dim);
      if (reason != null) {
        throw JouleException.input("reference set " + path + ", row id=" + id + ": " + reason
            + " (a reference set must be clean; import or fix it first)");
      }
      ids.add(id);
    }
    String name = new org.apache.hadoop.fs.Path(path).getName();
    return new ReferenceSet("topk:" + name, pinned.version(), values, ids, dim, sim, k, oversample, rescore);
  }

  /**
   * The top-k settings that do not depend on the reference rows, checked before any row is read
   * ({@code k} against the number of rows is checked once they are counted).
   */
  static Similarity checkSettings(String metric, int k, int oversample, String rescore) {
    Similarity sim;
    try {
      sim = Similarity.parse(metric);
    } catch (IllegalArgumentException e) {
      throw JouleException.usage("top-k: " + e.getMessage());
    }
    if (k < 1) {
      throw JouleException.usage("top-k: k must be >= 1, got " + k);
    }
    if (oversample < 1) {
      throw JouleException.usage("top-k: oversample must be >= 1, got " + oversample);
    }
    if (!List.of("auto", "none", "int8", "fp32").contains(rescore)) {
      throw JouleException.usage("top-k: rescore must be auto, none, int8 or fp32, got '" + rescore + "'");
    }
    return sim;
  }

  /** The same reference rows, scored with other top-k rescoring settings (the rows are shared, not copied). */
  public ReferenceSet withRescoring(int oversample, String rescore) {
    checkSettings(metric.label(), k, oversample, rescore);
    return new ReferenceSet(modelId, version, values, ids, dim, metric, k, oversample, rescore);
  }

  @Override
  public String modelId() {
    return modelId;
  }

  @Override
  public String modelVersion() {
    return "v" + version;
  }

  @Override
  public int dim() {
    return dim;
  }

  @Override
  public Kernel kernel(Precision precision, dev.joule.bridge.kernel.DimensionScales rowScales) {
    Precision r;
    switch (rescore) {
      case "auto":
        r = precision == Precision.BINARY ? Precision.INT8 : null;
        break;
      case "none":
        r = null;
        break;
      default:
        try {
          r = Precision.parse(rescore);
        } catch (IllegalArgumentException e) {
          throw JouleException.usage("--rescore: " + e.getMessage());
        }
    }
    try {
      return TopKKernel.fromReference(values, ids.size(), dim, ids, metric, k, precision, oversample, r, rowScales);
    } catch (IllegalArgumentException e) {
      throw JouleException.usage("top-k: " + e.getMessage());
    }
  }
}
