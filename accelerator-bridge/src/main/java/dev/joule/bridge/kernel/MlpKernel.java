package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.VectorOps;
import java.util.List;

/**
 * Two layers: {@code h = g(W1 x + b1)}, {@code y = activation(W2 h + b2)}, with g ReLU (Joule's
 * own MLPs) or the logistic sigmoid (what Spark MLlib's multilayer perceptron uses). The first layer
 * (dim × hidden, nearly all of the work) runs at the kernel's precision (fp32, int8, int4),
 * scaled per channel or per column and channel as {@link LinearKernel}'s weights are (chosen the
 * same way, {@link ScalingChooser}); the second (hidden × classes) stays fp32, since it is a small
 * fraction of the multiply-adds and re-quantizing the hidden layer per row would cost more than
 * it saves.
 */
public final class MlpKernel implements Kernel {

  public static final String OP = "mlp";

  /** The hidden layer's activation. */
  public enum Hidden {
    RELU("relu"),
    SIGMOID("sigmoid");

    private final String label;

    Hidden(String label) {
      this.label = label;
    }

    public String label() {
      return label;
    }

    public static Hidden parse(String s) {
      for (Hidden h : values()) {
        if (h.label.equals(s)) {
          return h;
        }
      }
      throw new IllegalArgumentException("unknown hidden activation '" + s + "' (supported: relu, sigmoid)");
    }
  }

  private final Activation activation;
  private final Hidden hiddenActivation;
  private final ScaledWeights scaled;
  private final ScalingChoice choice;
  private final EncodedRows w1;
  private final float[] b1;
  private final float[] w2; // [classes * hidden]
  private final float[] b2;
  private final List<String> labels;
  private final DimensionScales rowScales; // null: rows are not divided

  private MlpKernel(Activation activation, Hidden hiddenActivation, ScaledWeights scaled, ScalingChoice choice,
      float[] b1, float[] w2, float[] b2, List<String> labels, DimensionScales rowScales) {
    EncodedRows w1 = scaled.rows();
    if (choice.chosen() != scaled.scaling()) {
      throw new IllegalArgumentException("w1 is scaled " + scaled.scaling() + " but the choice says " + choice.chosen());
    }
    if (w1.precision() == Precision.BINARY) {
      throw new IllegalArgumentException("mlp kernels support fp32, int8 and int4, not binary");
    }
    int hidden = w1.rows();
    if (b1.length != hidden || w2.length != b2.length * hidden || labels.size() != b2.length) {
      throw new IllegalArgumentException("mlp shapes do not fit: hidden " + hidden + ", b1 " + b1.length
          + ", w2 " + w2.length + ", b2 " + b2.length + ", labels " + labels.size());
    }
    this.activation = activation;
    this.hiddenActivation = hiddenActivation;
    this.choice = choice;
    this.w1 = w1;
    this.b1 = b1;
    this.w2 = w2;
    this.b2 = b2;
    this.labels = List.copyOf(labels);
    if (rowScales != null && !scaled.precision().quantized()) {
      throw new IllegalArgumentException("dimension scales apply to quantized kernels only");
    }
    DimensionScales.checkDim(rowScales, w1.dim());
    this.rowScales = rowScales;
    this.scaled = scaled.forRowScales(rowScales);
  }

  /** From fp32 layers: {@code w1[hidden][dim]}, {@code w2[classes][hidden]}, with a ReLU hidden layer. */
  public static MlpKernel fromWeights(float[][] w1, float[] b1, float[][] w2, float[] b2,
      List<String> labels, Activation activation, Precision precision) {
    return fromWeights(w1, b1, w2, b2, labels, activation, Hidden.RELU, precision);
  }

  /** The first layer's scaling chosen on probe rows ({@link ScalingChooser#withProbes()}). */
  public static MlpKernel fromWeights(float[][] w1, float[] b1, float[][] w2, float[] b2,
      List<String> labels, Activation activation, Hidden hidden, Precision precision) {
    return fromWeights(w1, b1, w2, b2, labels, activation, hidden, precision, (DimensionScales) null);
  }

  /**
   * As above, for rows divided by {@code rowScales} (see {@link DimensionScales}): the first layer
   * is folded ({@code W1∘e}) before it is scaled and quantized. Null scales, or fp32: as above.
   */
  public static MlpKernel fromWeights(float[][] w1, float[] b1, float[][] w2, float[] b2,
      List<String> labels, Activation activation, Hidden hidden, Precision precision, DimensionScales rowScales) {
    DimensionScales e = precision.quantized() ? rowScales : null;
    float[] flat = LinearKernel.flatten(w1);
    ScalingChooser.Chosen c = ScalingChooser.withProbes().choose(precision, w1.length, LinearKernel.dimOf(w1),
        e == null ? flat : e.fold(flat, w1.length), e);
    return new MlpKernel(activation, hidden, c.weights(), c.choice(), b1.clone(), LinearKernel.flatten(w2),
        b2.clone(), labels, e);
  }

  /** As above with the first layer's scaling given. */
  public static MlpKernel fromWeights(float[][] w1, float[] b1, float[][] w2, float[] b2,
      List<String> labels, Activation activation, Hidden hidden, Precision precision, WeightScaling scaling) {
    ScaledWeights q = ScaledWeights.quantize(scaling, precision, w1.length, LinearKernel.dimOf(w1),
        LinearKernel.flatten(w1));
    return new MlpKernel(activation, hidden, q, ScalingChoice.forced(q.scaling()), b1.clone(),
        LinearKernel.flatten(w2), b2.clone(), labels, null);
  }

  static MlpKernel fromPayload(KernelPayload p) {
    // Kernels written before the sigmoid option have no "hidden" entry: ReLU.
    String hidden = p.meta().getOrDefault("hidden", Hidden.RELU.label());
    ScalingChoice choice = ScalingChoice.read(p, "w1");
    return new MlpKernel(Activation.parse(p.get("activation")), Hidden.parse(hidden),
        ScaledWeights.read(p, "w1", choice.chosen()), choice, p.floats("b1"), p.floats("w2"), p.floats("b2"),
        p.strings("labels"), DimensionScales.read(p));
  }

  @Override
  public KernelPayload toPayload() {
    KernelPayload p = new KernelPayload().meta("activation", activation.label());
    if (hiddenActivation != Hidden.RELU) {
      p.meta("hidden", hiddenActivation.label()); // ReLU kernels keep the bytes (and ids) they had
    }
    if (scaled.scaling() != WeightScaling.PER_CHANNEL) {
      choice.write(p, "w1"); // per-channel kernels keep the bytes (and ids) they had
    }
    scaled.write(p, "w1");
    DimensionScales.write(p, rowScales);
    return p.floats("b1", b1).floats("w2", w2).floats("b2", b2).strings("labels", labels);
  }

  @Override
  public String op() {
    return OP;
  }

  @Override
  public Precision precision() {
    return scaled.precision();
  }

  @Override
  public int dim() {
    return w1.dim();
  }

  /** The first layer's scaling and why it was chosen. */
  public ScalingChoice scalingChoice() {
    return choice;
  }

  @Override
  public boolean fp32Arithmetic() {
    return scaled.fp32Arithmetic();
  }

  @Override
  public DimensionScales rowScales() {
    return rowScales;
  }

  /** Column-channel kernels take fp32 rows (see {@link WeightScaling#COLUMN_CHANNEL}). */
  @Override
  public Precision queryPrecision() {
    return scaled.scaling().queryPrecision(Kernel.super.queryPrecision(), rowScales != null);
  }

  @Override
  public String quantizationNote() {
    return precision() == Precision.FP32 ? "" : "weights " + choice.describe()
        + (rowScales == null ? "" : "; rows divided by " + rowScales);
  }

  @Override
  public boolean reads(Precision p) {
    return scaled.scaling().reads(p, Kernel.super.reads(p));
  }

  public int hidden() {
    return w1.rows();
  }

  @Override
  public int width() {
    return b2.length;
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
    return "mlp" + hidden() + (hiddenActivation == Hidden.SIGMOID ? "-sigmoid" : "") + "-" + activation.label()
        + "@" + precision().label();
  }

  @Override
  public long macsPerRow() {
    return (long) dim() * hidden() + (long) hidden() * width();
  }

  @Override
  public long parameterBytes() {
    return scaled.payloadBytes() + 4L * (b1.length + w2.length + b2.length);
  }

  @Override
  public void score(EncodedRows in, KernelOutput out, VectorOps ops) {
    boolean columnScaled = scaled.scaling() == WeightScaling.COLUMN_CHANNEL;
    boolean unquantized = scaled.scaling() == WeightScaling.UNQUANTIZED;
    if (columnScaled) {
      ScaledWeights.checkColumnScaledInput(displayName(), in, dim());
    } else if (unquantized) {
      ScaledWeights.checkCodesInput(displayName(), in, dim());
    } else {
      Dots.check(displayName(), in, precision(), dim());
    }
    int hidden = hidden();
    int classes = width();
    float[] h = new float[hidden];
    float[] u = columnScaled ? new float[dim()] : null;
    float[] y = out.reset(in.rows()).scores();
    for (int r = 0; r < in.rows(); r++) {
      if (columnScaled) {
        scaled.scaleRow(in, r, u, ops);
      }
      for (int k = 0; k < hidden; k++) {
        float z = (columnScaled ? scaled.dotScaled(u, k, ops)
            : unquantized ? scaled.dotCodes(in, r, k, ops) : Dots.dot(in, r, w1, k, ops)) + b1[k];
        h[k] = hiddenActivation == Hidden.RELU ? Math.max(0f, z) : (float) (1.0 / (1.0 + Math.exp(-z)));
      }
      int o = r * classes;
      for (int j = 0; j < classes; j++) {
        y[o + j] = ops.dotF32(h, 0, w2, j * hidden, hidden) + b2[j];
      }
      activation.apply(y, o, classes);
    }
  }
}
