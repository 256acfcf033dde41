package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.VectorOps;

/**
 * A head's second look at the rows its quantized weights cannot call: where the top logit is
 * within {@code κ·σ_row} of another, those near-tied classes are scored again with the exact
 * (fp32) weights on the same row, and the head answers from those. Serves int4 and column-channel
 * int8 linear heads (logit {@code y_j = x·w_j + b_j}) and int4 nearest-centroid kernels (dot {@code x·c_j}, cosine
 * {@code x·c_j / (‖x‖‖c_j‖)}): a score is {@code a_row·m_j·(x·w_j) + b_j}, so σ_row and the
 * rescoring carry the same factors.
 *
 * <p>Why: int4 weights leave a logit error of about 0.4 per class on a 58-class MLlib head over
 * real sentence embeddings, while a tenth of the rows have a top-2 gap under 0.28; any single pass
 * at 4 bits reached 0.93–0.97 top-1 agreement (docs/quantization.md). The error of a logit
 * difference is {@code ε_j − ε_k = Σ_c x_c (δ_jc − δ_kc)}, with δ the weights' rounding error,
 * known when the kernel is built. Taking the δ of a column as independent across classes gives
 * its spread per row, {@code σ_row² = Σ_c x_c² v_c} with {@code v_c = 2·mean_j δ_jc²}: one extra
 * dot per row. A class within {@code κ·σ_row} of the top is a candidate; if only the top is, the
 * quantized answer stands. With κ = 2 on all 63,697 Debian descriptions: 25 % of rows had a
 * second candidate, 2.7 candidates each, 0.66 exact class dots per row on average (1.1 % of the
 * 58), and top-1 agreement rose from 0.942 to 0.999.
 *
 * <p>Exact for what the rows carry: the rescoring uses the row as sent (fp32, or int8 / int4
 * codes), so a row's own quantization error stays. Holds the exact weights in the units the
 * quantized ones were made in (folded with the dimension scales, if any).
 */
public final class NearTies {

  /** κ: candidates within this many σ_row of the top (measured in the class comment). */
  public static final float DEFAULT_MARGIN = 2f;
  /** The largest κ a kernel may carry: beyond it nearly every class of every row is rescored. */
  static final float MAX_MARGIN = 8f;

  /** The row's factor {@code a_row} in a score: 1, or 1/‖x‖ (cosine, from the row's stored norm). */
  enum RowFactor {
    ONE,
    INVERSE_NORM
  }

  private final float margin;
  private final float[] exact; // outputs × dim, the weights the quantized ones approximate
  private final int outputs;
  private final int dim;
  private final float[] classFactor; // m_j, or null: 1
  private final RowFactor rowFactor;
  private final float[] spread; // sqrt(v_c): σ_row = a_row·‖x∘spread‖ for rows in the weights' units
  private final float[] fp32Spread; // spread / e for undivided fp32 rows; else spread
  private final float[] fp32Divide; // 1/e for undivided fp32 rows, or null

  private NearTies(float margin, float[] exact, int outputs, int dim, float[] classFactor, RowFactor rowFactor,
      float[] spread, DimensionScales rowScales) {
    if (!(margin > 0 && margin <= MAX_MARGIN)) {
      throw new IllegalArgumentException("near-tie margin " + margin + " is not in (0, " + MAX_MARGIN + "]");
    }
    DimensionScales.checkDim(rowScales, dim);
    if (exact.length != outputs * dim || spread.length != dim) {
      throw new IllegalArgumentException("near-tie weights hold " + exact.length + " values and " + spread.length
          + " column spreads, not " + outputs + " × " + dim);
    }
    this.margin = margin;
    this.exact = exact;
    this.outputs = outputs;
    this.dim = dim;
    this.classFactor = classFactor;
    this.rowFactor = rowFactor;
    this.spread = spread;
    if (rowScales != null) {
      float[] e = rowScales.values();
      fp32Spread = new float[dim];
      fp32Divide = new float[dim];
      for (int c = 0; c < dim; c++) {
        fp32Spread[c] = spread[c] / e[c];
        fp32Divide[c] = 1f / e[c];
      }
    } else {
      fp32Spread = spread;
      fp32Divide = null;
    }
  }

  /**
   * For a linear head: weights {@code exact} (outputs × dim, row-major, in the units
   * {@code quantized} was made from) and their quantized form; {@code rowScales}: the dimension
   * scales the weights are folded with, or null.
   */
  static NearTies ofHead(float margin, float[] exact, ScaledWeights quantized, DimensionScales rowScales) {
    int outputs = quantized.outputs();
    int dim = quantized.dim();
    float[] dequantized = new float[outputs * dim];
    for (int j = 0; j < outputs; j++) {
      for (int c = 0; c < dim; c++) {
        dequantized[j * dim + c] = quantized.dequantized(j, c);
      }
    }
    return of(margin, exact, dequantized, outputs, dim, null, RowFactor.ONE, rowScales);
  }

  /**
   * For nearest centroid: the centroids {@code exact} (folded with {@code rowScales} if any) and
   * their codes; by cosine, each class's score is divided by its centroid's norm and the row's.
   */
  static NearTies ofCentroids(float margin, float[] exact, EncodedRows quantized, Similarity metric,
      DimensionScales rowScales) {
    int k = quantized.rows();
    int dim = quantized.dim();
    float[] dequantized = new float[k * dim];
    for (int j = 0; j < k; j++) {
      for (int c = 0; c < dim; c++) {
        dequantized[j * dim + c] = code(quantized, j, c) * quantized.scales()[j];
      }
    }
    float[] m = null;
    if (metric == Similarity.COSINE) {
      m = new float[k];
      for (int j = 0; j < k; j++) {
        float n = quantized.norms()[j];
        m[j] = n == 0f ? 0f : 1f / n; // Similarity: a zero norm scores 0
      }
    }
    return of(margin, exact, dequantized, k, dim, m, metric == Similarity.COSINE ? RowFactor.INVERSE_NORM
        : RowFactor.ONE, rowScales);
  }

  private static int code(EncodedRows q, int j, int c) {
    return switch (q.precision()) {
      case INT8 -> q.codes()[j * q.stride() + c];
      case INT4 -> Int4Quantizer.code(q.codes(), j * q.stride(), q.dim(), c);
      default -> throw new IllegalArgumentException("near ties serve int8 or int4 parameters, not " + q.precision());
    };
  }

  private static NearTies of(float margin, float[] exact, float[] dequantized, int outputs, int dim,
      float[] classFactor, RowFactor rowFactor, DimensionScales rowScales) {
    double[] v = new double[dim];
    for (int j = 0; j < outputs; j++) {
      double m = classFactor == null ? 1 : classFactor[j];
      for (int c = 0; c < dim; c++) {
        double d = m * ((double) dequantized[j * dim + c] - exact[j * dim + c]);
        v[c] += d * d;
      }
    }
    float[] spread = new float[dim];
    for (int c = 0; c < dim; c++) {
      spread[c] = (float) Math.sqrt(2 * v[c] / outputs);
    }
    return new NearTies(margin, exact.clone(), outputs, dim, classFactor, rowFactor, spread, rowScales);
  }

  public float margin() {
    return margin;
  }

  /** Bytes of the exact weights, read per row for the rows rescored (see {@link LinearKernel#parameterBytes}). */
  long exactRowBytes() {
    return 4L * dim;
  }

  /** Per-call buffers: kernels are shared across threads. */
  final class Scratch {
    final float[] u = new float[dim];
    final float[] row = new float[dim];
  }

  Scratch scratch() {
    return new Scratch();
  }

  /**
   * Row r's logits {@code y[o, o + outputs)} (with {@code bias}, before the activation), scored
   * with the quantized weights: rescored exactly for the classes within the margin of the top,
   * when there is more than one.
   */
  void resolve(EncodedRows in, int r, float[] y, int o, float[] bias, Scratch s, VectorOps ops) {
    float a = 1f;
    if (rowFactor == RowFactor.INVERSE_NORM) {
      float n = in.norms()[r];
      if (n == 0f) {
        return; // every score is 0 (Similarity), exactly
      }
      a = 1f / n;
    }
    int top = o;
    for (int j = o + 1; j < o + outputs; j++) {
      if (y[j] > y[top]) {
        top = j;
      }
    }
    float second = Float.NEGATIVE_INFINITY;
    for (int j = o; j < o + outputs; j++) {
      if (j != top && y[j] > second) {
        second = y[j];
      }
    }
    if (second == Float.NEGATIVE_INFINITY) {
      return; // one output
    }
    float sigma = a * sigma(in, r, s, ops);
    float cut = y[top] - margin * sigma;
    if (!(second >= cut)) {
      return; // the top stands (a NaN sigma rescores nothing: the row is already NaN)
    }
    boolean fp32 = in.precision() == Precision.FP32;
    float[] x = fp32 ? rowInWeightUnits(in, r, s, ops) : null;
    for (int j = 0; j < outputs; j++) {
      if (y[o + j] >= cut) {
        float m = classFactor == null ? a : a * classFactor[j];
        y[o + j] = exactDot(in, r, x, j, ops) * m + (bias == null ? 0f : bias[j]);
      }
    }
  }

  /** σ_row: ‖x∘spread‖ for the row in the weights' units. */
  private float sigma(EncodedRows in, int r, Scratch s, VectorOps ops) {
    switch (in.precision()) {
      case FP32 -> ops.scaleF32(in.values(), r * dim, 1f, fp32Spread, s.u, dim);
      case INT8 -> ops.scaleI8(in.codes(), r * dim, in.scales()[r], spread, s.u, dim);
      case INT4 -> ScaledWeights.scaleInt4(in.codes(), r * in.stride(), dim, in.scales()[r], spread, s.u);
      default -> throw new IllegalArgumentException("near ties take fp32, int8 or int4 rows, not " + in.precision());
    }
    return (float) Math.sqrt(ops.dotF32(s.u, 0, s.u, 0, dim));
  }

  /** An fp32 row divided by the dimension scales the weights are folded with (or the row itself). */
  private float[] rowInWeightUnits(EncodedRows in, int r, Scratch s, VectorOps ops) {
    if (fp32Divide == null) {
      System.arraycopy(in.values(), r * dim, s.row, 0, dim);
    } else {
      ops.scaleF32(in.values(), r * dim, 1f, fp32Divide, s.row, dim);
    }
    return s.row;
  }

  private float exactDot(EncodedRows in, int r, float[] x, int j, VectorOps ops) {
    return switch (in.precision()) {
      case FP32 -> ops.dotF32(x, 0, exact, j * dim, dim);
      case INT8 -> ops.dotF32I8(exact, j * dim, in.codes(), r * dim, dim) * in.scales()[r];
      case INT4 -> ops.dotF32I4(exact, j * dim, in.codes(), r * in.stride(), dim) * in.scales()[r];
      default -> throw new AssertionError(in.precision());
    };
  }

  /** Writes {@code <name>.near-ties.margin} and the exact weights. */
  void write(KernelPayload p, String name) {
    p.meta(name + ".near-ties.margin", String.valueOf(margin));
    p.rows(name + ".exact", EncodedRows.fp32(outputs, dim, exact));
  }

  /** Whether a payload records near-tie rescoring (its kernel needs {@link KernelCodec#FORMAT_NEAR_TIES}). */
  static boolean recordedIn(KernelPayload p) {
    return p.meta().keySet().stream().anyMatch(k -> k.endsWith(".near-ties.margin"));
  }

  /** The recorded margin under {@code name}, or null for a kernel without near-tie rescoring. */
  static Float margin(KernelPayload p, String name) {
    String m = p.meta().get(name + ".near-ties.margin");
    if (m == null) {
      return null;
    }
    float v;
    try {
      v = Float.parseFloat(m);
    } catch (NumberFormatException e) {
      v = Float.NaN;
    }
    // One spelling per value: another would give the same kernel under another id.
    if (!String.valueOf(v).equals(m)) {
      throw new IllegalArgumentException("near-tie margin '" + m + "' is not a float as Joule writes it");
    }
    return v;
  }

  /** The recorded exact weights under {@code name}: fp32, {@code outputs × dim}. */
  static float[] exact(KernelPayload p, String name, int outputs, int dim) {
    EncodedRows w = p.rows(name + ".exact");
    if (w.precision() != Precision.FP32 || w.rows() != outputs || w.dim() != dim) {
      throw new IllegalArgumentException("near-tie weights are " + w.rows() + " × " + w.dim() + " at "
          + w.precision() + ", not " + outputs + " × " + dim + " at fp32");
    }
    for (float v : w.values()) {
      if (!Float.isFinite(v)) {
        throw new IllegalArgumentException("near-tie weights hold " + v);
      }
    }
    return w.values();
  }
}
