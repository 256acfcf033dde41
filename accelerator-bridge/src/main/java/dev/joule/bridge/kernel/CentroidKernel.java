package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.VectorOps;
import java.util.List;

/**
 * Nearest of K centroids by cosine or dot, at any precision (binary cosine is the sign-vector
 * cosine). Scores are the similarity to every centroid; the label is the nearest one's.
 */
public final class CentroidKernel implements Kernel {

  public static final String OP = "centroid";

  private final Similarity metric;
  private final EncodedRows centroids;
  private final List<String> labels;
  private final DimensionScales rowScales; // null: rows are not divided

  private CentroidKernel(Similarity metric, EncodedRows centroids, List<String> labels, DimensionScales rowScales) {
    if (labels.size() != centroids.rows()) {
      throw new IllegalArgumentException(centroids.rows() + " centroids but " + labels.size() + " labels");
    }
    this.metric = metric;
    this.centroids = centroids;
    this.labels = List.copyOf(labels);
    if (rowScales != null && !centroids.precision().quantized()) {
      throw new IllegalArgumentException("dimension scales apply to quantized kernels only");
    }
    if (rowScales != null && centroids.precision() == Precision.BINARY) {
      throw new IllegalArgumentException("binary kernels take sign bits, which no dimension scale changes");
    }
    DimensionScales.checkDim(rowScales, centroids.dim());
    this.rowScales = rowScales;
  }

  public static CentroidKernel fromCentroids(float[][] c, List<String> labels, Similarity metric,
      Precision precision) {
    return fromCentroids(c, labels, metric, precision, null);
  }

  /** As above, for int8 / int4 rows divided by {@code rowScales}: the centroids are folded (see {@link DimensionScales}). */
  public static CentroidKernel fromCentroids(float[][] c, List<String> labels, Similarity metric,
      Precision precision, DimensionScales rowScales) {
    DimensionScales e = precision == Precision.INT8 || precision == Precision.INT4 ? rowScales : null;
    return new CentroidKernel(metric,
        EncodedRows.encodeFolded(precision, c.length, LinearKernel.dimOf(c), LinearKernel.flatten(c), e), labels, e);
  }

  static CentroidKernel fromPayload(KernelPayload p) {
    return new CentroidKernel(Similarity.parse(p.get("metric")), p.rows("c"), p.strings("labels"),
        DimensionScales.read(p));
  }

  @Override
  public KernelPayload toPayload() {
    KernelPayload p = new KernelPayload().meta("metric", metric.label()).rows("c", centroids).strings("labels", labels);
    DimensionScales.write(p, rowScales);
    return p;
  }

  @Override
  public DimensionScales rowScales() {
    return rowScales;
  }

  @Override
  public String op() {
    return OP;
  }

  @Override
  public Precision precision() {
    return centroids.precision();
  }

  @Override
  public int dim() {
    return centroids.dim();
  }

  @Override
  public int width() {
    return centroids.rows();
  }

  @Override
  public boolean neighbors() {
    return false;
  }

  @Override
  public List<String> labels() {
    return labels;
  }

  @Override
  public String displayName() {
    return "centroid" + width() + "-" + metric.label() + "@" + precision().label();
  }

  @Override
  public long macsPerRow() {
    return (long) dim() * width();
  }

  @Override
  public long parameterBytes() {
    return centroids.payloadBytes();
  }

  @Override
  public void score(EncodedRows in, KernelOutput out, VectorOps ops) {
    Dots.check(displayName(), in, precision(), dim());
    int k = width();
    float[] y = out.reset(in.rows()).scores();
    for (int r = 0; r < in.rows(); r++) {
      for (int j = 0; j < k; j++) {
        y[r * k + j] = metric.of(in, r, centroids, j, ops);
      }
    }
  }
}
