package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.VectorOps;
import java.util.List;
import java.util.Objects;

/**
 * {@code y = activation(W x + b)} with W of shape [outputs, dim], at fp32, int8 or int4. The
 * weights are scaled one of two ways ({@link WeightScaling}), chosen when the kernel is built by
 * measuring both ({@link ScalingChooser}) and recorded in the kernel:
 * <ul>
 *   <li>per-channel: weight rows quantized per output channel and dotted exactly against rows
 *       quantized per row; each output is rescaled once: {@code y_j = s_x·s_j·Σ q_x q_w + b_j};
 *   <li>column-channel: {@code w_jc ≈ s_j·t_c·q_jc}; per row, {@code u = x∘t} in fp32, then
 *       {@code y_j = s_j·Σ u_c q_jc + b_j}. Takes fp32 rows (and reads int8 / int4 ones).
 * </ul>
 * Int4 weights, and column-channel int8 ones, score the classes near the top again with the exact
 * weights ({@link NearTies}). Binary is refused: sign bits alone do not make a useful classifier head.
 */
public final class LinearKernel implements Kernel {

  public static final String OP = "linear";

  private final Activation activation;
  private final ScaledWeights scaled;
  private final ScalingChoice choice;
  private final EncodedRows weights;
  private final float[] bias;
  private final List<String> labels;
  private final DimensionScales rowScales; // null: rows are not divided
  private final NearTies nearTies; // null: the quantized weights' answer stands for every row
  // Per-channel int8 weights' codes as floats, for VectorOps.headDotsI8 (null where it does not apply).
  private final float[] headCodes;
  // Whether int8 rows take their dots for a whole batch from VectorOps.headDotsI8 (see blockedHead).
  private final boolean blockedDots;

  private LinearKernel(Activation activation, ScaledWeights scaled, ScalingChoice choice, float[] bias,
      List<String> labels, DimensionScales rowScales, NearTies nearTies) {
    this(activation, scaled, choice, bias, labels, rowScales, nearTies, true);
  }

  private LinearKernel(Activation activation, ScaledWeights scaled, ScalingChoice choice, float[] bias,
      List<String> labels, DimensionScales rowScales, NearTies nearTies, boolean blockedDots) {
    EncodedRows weights = scaled.rows();
    if (choice.chosen() != scaled.scaling()) {
      throw new IllegalArgumentException("weights are scaled " + scaled.scaling() + " but the choice says " + choice.chosen());
    }
    if (weights.precision() == Precision.BINARY) {
      throw new IllegalArgumentException("linear kernels support fp32, int8 and int4, not binary "
          + "(1-bit weights lose the magnitudes a classifier head needs)");
    }
    if (bias.length != weights.rows() || labels.size() != weights.rows()) {
      throw new IllegalArgumentException("weights have " + weights.rows() + " rows but bias has "
          + bias.length + " and labels " + labels.size());
    }
    this.activation = activation;
    this.choice = choice;
    this.weights = weights;
    this.bias = bias;
    this.labels = List.copyOf(labels);
    if (rowScales != null && !scaled.precision().quantized()) {
      throw new IllegalArgumentException("dimension scales apply to quantized kernels only");
    }
    DimensionScales.checkDim(rowScales, weights.dim());
    this.rowScales = rowScales;
    this.scaled = scaled.forRowScales(rowScales);
    if (nearTies != null && (!rescoresNearTies(scaled) || bias.length < 2)) {
      throw new IllegalArgumentException("near-tie rescoring is for int4 or column-channel int8 weights of a head of "
          + "two or more outputs");
    }
    this.nearTies = nearTies;
    this.blockedDots = blockedDots;
    this.headCodes = blockedDots && blockedHead(this.scaled) ? widenToFloats(weights.codes()) : null;
  }

  /**
   * Int8 rows take their dots for a whole batch from {@link VectorOps#headDotsI8}: two rows
   * against four classes per pass, each row's bytes widened to floats once per pass (fp32 heads
   * the same from {@link VectorOps#headDotsF32}). Unquantized (fp32) weights over int8 codes (a
   * codes table with dimension scales) always do; per-channel int8 weights do at dim ≤
   * {@link VectorOps#EXACT_HEAD_DIM} and up to {@link #MAX_WIDENED_WEIGHTS}, their codes held as
   * floats, where fp32 FMAs give the integer dot exactly. The pairwise dots widened each (row,
   * class) pair on its own and reduced its lanes each time (kernel bench, 2026-12-06: the blocked
   * int8 head at 1.57× their rows/s).
   */
  private static boolean blockedHead(ScaledWeights q) {
    return q.scaling() == WeightScaling.PER_CHANNEL && q.precision() == Precision.INT8
        && q.dim() <= VectorOps.EXACT_HEAD_DIM && (long) q.outputs() * q.dim() <= MAX_WIDENED_WEIGHTS;
  }

  /**
   * The most weights whose codes are held again as floats (4 MiB): a node's kernel cache bounds
   * itself by the bytes pushed, and the float copy is 4× the codes. Larger heads take pairwise dots.
   */
  static final long MAX_WIDENED_WEIGHTS = 1L << 20;

  private static float[] widenToFloats(byte[] codes) {
    float[] f = new float[codes.length];
    for (int i = 0; i < f.length; i++) {
      f[i] = codes[i];
    }
    return f;
  }

  /**
   * Int4 weights rescore their near ties ({@link NearTies}): no single 4-bit pass replicated a
   * real head at 99 %. So do int8 column-channel ones, which already take fp32 rows: on the
   * planted sets at dims 64 and 128 they stopped at 0.993–0.997 without it (1.000 with), and on
   * the Debian head at 0.9953, just over the gate's 0.995. Per-channel int8 heads (healthy ones)
   * keep their bytes and ids; unquantized weights are exact.
   */
  private static boolean rescoresNearTies(ScaledWeights q) {
    return q.scaling() != WeightScaling.UNQUANTIZED && (q.precision() == Precision.INT4
        || q.precision() == Precision.INT8 && q.scaling() == WeightScaling.COLUMN_CHANNEL);
  }

  private static NearTies nearTiesFor(ScaledWeights q, float[] exact, int outputs, DimensionScales e) {
    return rescoresNearTies(q) && outputs >= 2 ? NearTies.ofHead(NearTies.DEFAULT_MARGIN, exact, q, e) : null;
  }

  /**
   * Builds a kernel at {@code precision} from full-precision weights {@code w[outputs][dim]},
   * choosing the weight scaling on probe rows ({@link ScalingChooser#withProbes()}).
   */
  public static LinearKernel fromWeights(float[][] w, float[] bias, List<String> labels,
      Activation activation, Precision precision) {
    return fromWeights(w, bias, labels, activation, precision, ScalingChooser.withProbes());
  }

  /** As above, the scaling chosen by {@code chooser} (e.g. on a sample of the rows to score). */
  public static LinearKernel fromWeights(float[][] w, float[] bias, List<String> labels,
      Activation activation, Precision precision, ScalingChooser chooser) {
    return fromWeights(w, bias, labels, activation, precision, chooser, null);
  }

  /**
   * As above, for rows divided by {@code rowScales} (a codes table's, see {@link DimensionScales}):
   * the weights are folded ({@code W∘e}); at int8 they stay fp32 ({@link WeightScaling#UNQUANTIZED}),
   * at int4 they are scaled as the chooser measures. Null scales, or fp32: as above.
   */
  public static LinearKernel fromWeights(float[][] w, float[] bias, List<String> labels,
      Activation activation, Precision precision, ScalingChooser chooser, DimensionScales rowScales) {
    DimensionScales e = precision.quantized() ? rowScales : null;
    float[] flat = flatten(w);
    float[] folded = e == null ? flat : e.fold(flat, w.length);
    ScalingChooser.Chosen c = chooser.choose(precision, w.length, dimOf(w), folded, e);
    return new LinearKernel(activation, c.weights(), c.choice(), bias.clone(), labels, e,
        nearTiesFor(c.weights(), folded, w.length, e));
  }

  /** As above with the scaling given (tests, benchmarks, a user who knows). */
  public static LinearKernel fromWeights(float[][] w, float[] bias, List<String> labels,
      Activation activation, Precision precision, WeightScaling scaling) {
    float[] flat = flatten(w);
    ScaledWeights q = ScaledWeights.quantize(scaling, precision, w.length, dimOf(w), flat);
    return new LinearKernel(activation, q, ScalingChoice.forced(q.scaling()), bias.clone(), labels, null,
        nearTiesFor(q, flat, w.length, null));
  }

  static LinearKernel fromPayload(KernelPayload p) {
    ScalingChoice choice = ScalingChoice.read(p, "w");
    ScaledWeights q = ScaledWeights.read(p, "w", choice.chosen());
    DimensionScales e = DimensionScales.read(p);
    Float margin = NearTies.margin(p, "w");
    return new LinearKernel(Activation.parse(p.get("activation")), q, choice, p.floats("bias"), p.strings("labels"),
        e, margin == null ? null : NearTies.ofHead(margin, NearTies.exact(p, "w", q.outputs(), q.dim()), q, e));
  }

  @Override
  public KernelPayload toPayload() {
    KernelPayload p = new KernelPayload().meta("activation", activation.label());
    if (scaled.scaling() != WeightScaling.PER_CHANNEL) {
      // Per-channel kernels keep the bytes (and ids) they had: no entry means per-channel. Why
      // one was kept stays on the built kernel (scalingChoice()) for the caller to log.
      choice.write(p, "w");
    }
    scaled.write(p, "w");
    if (nearTies != null) {
      nearTies.write(p, "w");
    }
    DimensionScales.write(p, rowScales);
    return p.floats("bias", bias).strings("labels", labels);
  }

  static int dimOf(float[][] w) {
    if (w.length == 0 || w[0].length == 0) {
      throw new IllegalArgumentException("a weight matrix needs at least one row and one column");
    }
    return w[0].length;
  }

  /** Row-major copy, checking every row has the same length and finite values. */
  static float[] flatten(float[][] w) {
    int dim = dimOf(w);
    float[] flat = new float[w.length * dim];
    for (int j = 0; j < w.length; j++) {
      if (w[j].length != dim) {
        throw new IllegalArgumentException("weight row " + j + " has " + w[j].length + " values, expected " + dim);
      }
      for (int i = 0; i < dim; i++) {
        if (!Float.isFinite(w[j][i])) {
          throw new IllegalArgumentException("weight [" + j + "][" + i + "] is " + w[j][i]);
        }
      }
      System.arraycopy(w[j], 0, flat, j * dim, dim);
    }
    return flat;
  }

  @Override
  public String op() {
    return OP;
  }

  @Override
  public Precision precision() {
    return scaled.precision();
  }

  public Activation activation() {
    return activation;
  }

  /**
   * The weight rows as the kernel holds them: quantized per output channel, for column-channel
   * after dividing each column by its scale ({@link #scaledWeights()}).
   */
  public EncodedRows weights() {
    return weights;
  }

  public ScaledWeights scaledWeights() {
    return scaled;
  }

  /** The weight scaling and why it was chosen. */
  public ScalingChoice scalingChoice() {
    return choice;
  }

  /** The blocked int8 head multiplies in fp32 FMAs (on integer values): charged as fp32 MACs. */
  @Override
  public boolean fp32Arithmetic() {
    return headCodes != null || scaled.fp32Arithmetic();
  }

  @Override
  public DimensionScales rowScales() {
    return rowScales;
  }

  /** Column-channel kernels take fp32 rows: their activations are rescaled per column in fp32. */
  @Override
  public Precision queryPrecision() {
    return scaled.scaling().queryPrecision(Kernel.super.queryPrecision(), rowScales != null);
  }

  /** This kernel with the quantized weights' answer standing for every row (benchmarks, tests). */
  public LinearKernel withoutNearTies() {
    return nearTies == null ? this
        : new LinearKernel(activation, scaled, choice, bias, labels, rowScales, null, blockedDots);
  }

  /**
   * This kernel with its int8 rows' dots taken pair by pair ({@link Dots#dot},
   * {@link ScaledWeights#dotCodes}) rather than blocked (benchmarks, tests): for per-channel int8
   * weights the same outputs bit for bit, and int8 MACs in the ops/bytes model; for unquantized
   * weights the same up to fp32 summation order. Not carried by {@link KernelCodec}: a kernel
   * decoded on a node is blocked.
   */
  public LinearKernel withPairwiseDots() {
    return blockedDots ? new LinearKernel(activation, scaled, choice, bias, labels, rowScales, nearTies, false) : this;
  }

  /** The near-tie rescoring, or null: the quantized weights' answer stands for every row. */
  public NearTies nearTies() {
    return nearTies;
  }

  @Override
  public String quantizationNote() {
    return precision() == Precision.FP32 ? "" : "weights " + choice.describe()
        + (nearTies == null ? "" : "; near ties (within " + nearTies.margin() + " σ of the top) rescored at fp32 weights")
        + (rowScales == null ? "" : "; rows divided by " + rowScales);
  }

  @Override
  public boolean reads(Precision p) {
    return scaled.scaling().reads(p, Kernel.super.reads(p));
  }

  @Override
  public int dim() {
    return weights.dim();
  }

  @Override
  public int width() {
    return bias.length;
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
    return activation.label() + "@" + precision().label();
  }

  /**
   * With near-tie rescoring, two more dots of dim per row: σ_row, and an allowance of one exact
   * class dot for the rescoring (measured: 0.66 a row on the Debian head, {@link NearTies}).
   */
  @Override
  public long macsPerRow() {
    return (long) dim() * (width() + (nearTies == null ? 0 : 2));
  }

  /**
   * The quantized weights as the dots read them (int4 column-channel codes widened to a byte
   * each, the blocked int8 head's codes as floats and its class scales), bias, and with near-tie
   * rescoring one exact weight row (the same allowance).
   */
  @Override
  public long parameterBytes() {
    long weightBytes = headCodes != null ? 4L * headCodes.length + 4L * width() : scaled.bytesReadPerRow();
    return weightBytes + 4L * bias.length + (nearTies == null ? 0 : nearTies.exactRowBytes());
  }

  @Override
  public void score(EncodedRows in, KernelOutput out, VectorOps ops) {
    if (scaled.scaling() == WeightScaling.COLUMN_CHANNEL) {
      scoreColumnScaled(in, out, ops);
      return;
    }
    if (scaled.scaling() == WeightScaling.UNQUANTIZED) {
      scoreUnquantized(in, out, ops);
      return;
    }
    Dots.check(displayName(), in, precision(), dim());
    int outputs = width();
    float[] y = out.reset(in.rows()).scores();
    if (headCodes != null && in.precision() == Precision.INT8) {
      scoreBlocked(in, y, ops);
    } else if (blockedDots && precision() == Precision.FP32) {
      ops.headDotsF32(in.values(), 0, in.rows(), dim(), weights.values(), outputs, y, 0);
      for (int r = 0; r < in.rows(); r++) {
        for (int j = 0; j < outputs; j++) {
          y[r * outputs + j] += bias[j];
        }
      }
    } else {
      NearTies.Scratch ties = nearTies == null ? null : nearTies.scratch();
      for (int r = 0; r < in.rows(); r++) {
        int o = r * outputs;
        for (int j = 0; j < outputs; j++) {
          y[o + j] = Dots.dot(in, r, weights, j, ops) + bias[j];
        }
        if (ties != null) {
          nearTies.resolve(in, r, y, o, bias, ties, ops);
        }
      }
    }
    activation.applyRows(y, in.rows(), outputs, ops);
  }

  /**
   * Why this kernel's dots cannot be taken elsewhere (by a GPU backend) for rows at {@code rows},
   * or null where they can: per-channel weights at int8 on int8 rows, or fp32 on fp32 rows,
   * without dimension scales or near-tie rescoring. Then the dots are {@code Σ x·w} of each row
   * and class of {@link #weights()} (exact integers for int8 codes), and {@link #scoreFromDots}
   * finishes the batch from them as {@link #score} finishes its own.
   */
  public String externalDotsRefusal(Precision rows) {
    if (scaled.scaling() != WeightScaling.PER_CHANNEL) {
      return "weights scaled " + scaled.scaling() + " (only per-channel heads take their dots elsewhere)";
    }
    if (precision() != Precision.INT8 && precision() != Precision.FP32) {
      return precision().label() + " weights (int8 and fp32 heads take their dots elsewhere)";
    }
    if (rows != precision()) {
      return "rows at " + rows.label() + " for " + precision().label() + " weights";
    }
    if (rowScales != null || nearTies != null) {
      return "dimension scales or near-tie rescoring";
    }
    return null;
  }

  /**
   * Finishes a batch from its dots taken elsewhere: {@code dots[r·outputs + j]} is row r's dot
   * with weight row j (for int8, the exact integer dot as a float). The same float operations as
   * {@link #score} after its own dots, so int8 outputs are the same bits.
   *
   * @throws IllegalArgumentException if {@link #externalDotsRefusal} refuses these rows
   */
  public void scoreFromDots(EncodedRows in, float[] dots, KernelOutput out, VectorOps ops) {
    String refusal = externalDotsRefusal(in.precision());
    if (refusal != null) {
      throw new IllegalArgumentException("kernel " + displayName() + " cannot take its dots elsewhere: " + refusal);
    }
    Dots.check(displayName(), in, precision(), dim());
    int outputs = width();
    if (dots.length < in.rows() * outputs) {
      throw new IllegalArgumentException(in.rows() + " rows need " + in.rows() * outputs + " dots, got " + dots.length);
    }
    float[] y = out.reset(in.rows()).scores();
    if (precision() == Precision.INT8) {
      float[] rowScale = in.scales();
      float[] classScale = weights.scales();
      for (int r = 0; r < in.rows(); r++) {
        int o = r * outputs;
        for (int j = 0; j < outputs; j++) {
          y[o + j] = dots[o + j] * (rowScale[r] * classScale[j]) + bias[j];
        }
      }
    } else {
      for (int i = 0; i < in.rows() * outputs; i++) {
        y[i] = dots[i] + bias[i % outputs];
      }
    }
    activation.applyRows(y, in.rows(), outputs, ops);
  }

  /** As {@link Dots#dot} then the bias, for a batch: the same float operations on the same dot. */
  private void scoreBlocked(EncodedRows in, float[] y, VectorOps ops) {
    int outputs = width();
    ops.headDotsI8(in.codes(), 0, in.rows(), dim(), headCodes, outputs, y, 0);
    float[] rowScale = in.scales();
    float[] classScale = weights.scales();
    for (int r = 0; r < in.rows(); r++) {
      int o = r * outputs;
      for (int j = 0; j < outputs; j++) {
        y[o + j] = y[o + j] * (rowScale[r] * classScale[j]) + bias[j];
      }
    }
  }

  private void scoreUnquantized(EncodedRows in, KernelOutput out, VectorOps ops) {
    ScaledWeights.checkCodesInput(displayName(), in, dim());
    int outputs = width();
    float[] y = out.reset(in.rows()).scores();
    if (blockedDots && in.precision() == Precision.INT8) {
      // As ScaledWeights.dotCodes, for a batch: s_r·Σ_c q_rc·w_jc, then the bias.
      ops.headDotsI8(in.codes(), 0, in.rows(), dim(), scaled.rows().values(), outputs, y, 0);
      float[] rowScale = in.scales();
      for (int r = 0; r < in.rows(); r++) {
        int o = r * outputs;
        for (int j = 0; j < outputs; j++) {
          y[o + j] = y[o + j] * rowScale[r] + bias[j];
        }
      }
      activation.applyRows(y, in.rows(), outputs, ops);
      return;
    }
    for (int r = 0; r < in.rows(); r++) {
      int o = r * outputs;
      for (int j = 0; j < outputs; j++) {
        y[o + j] = scaled.dotCodes(in, r, j, ops) + bias[j];
      }
    }
    activation.applyRows(y, in.rows(), outputs, ops);
  }

  private void scoreColumnScaled(EncodedRows in, KernelOutput out, VectorOps ops) {
    ScaledWeights.checkColumnScaledInput(displayName(), in, dim());
    int outputs = width();
    float[] u = new float[dim()];
    float[] y = out.reset(in.rows()).scores();
    NearTies.Scratch ties = nearTies == null ? null : nearTies.scratch();
    for (int r = 0; r < in.rows(); r++) {
      scaled.scaleRow(in, r, u, ops);
      int o = r * outputs;
      for (int j = 0; j < outputs; j++) {
        y[o + j] = scaled.dotScaled(u, j, ops) + bias[j];
      }
      if (ties != null) {
        nearTies.resolve(in, r, y, o, bias, ties, ops);
      }
    }
    activation.applyRows(y, in.rows(), outputs, ops);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof LinearKernel k && java.util.Arrays.equals(KernelCodec.encode(this), KernelCodec.encode(k));
  }

  @Override
  public int hashCode() {
    return Objects.hash(activation, labels, dim());
  }
}
