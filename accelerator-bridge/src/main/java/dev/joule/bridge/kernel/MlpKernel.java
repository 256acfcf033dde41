package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.VectorOps;
import java.util.List;

/**
 * Two layers: {@code h = g(W1 x + b1)}, {@code y = activation(W2 h + b2)}, with g ReLU (Joule's
 * own MLPs) or the logistic sigmoid (what Spark MLlib's multilayer perceptron uses). The first layer
 * (dim × hidden, nearly all of the work) runs at the kernel's precision (fp32, int8, int4); the
 * second (hidden × classes) stays fp32, since it is a small fraction of the multiply-adds and
 * re-quantizing the hidden layer per row would cost more than it saves.
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
  private final EncodedRows w1;
  private final float[] b1;
  private final float[] w2; // [classes * hidden]
  private final float[] b2;
  private final List<String> labels;

  private MlpKernel(Activation activation, Hidden hiddenActivation, EncodedRows w1, float[] b1, float[] w2,
      float[] b2, List<String> labels) {
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
    this.w1 = w1;
    this.b1 = b1;
    this.w2 = w2;
    this.b2 = b2;
    this.labels = List.copyOf(labels);
  }

  /** From fp32 layers: {@code w1[hidden][dim]}, {@code w2[classes][hidden]}, with a ReLU hidden layer. */
  public static MlpKernel fromWeights(float[][] w1, float[] b1, float[][] w2, float[] b2,
      List<String> labels, Activation activation, Precision precision) {
    return fromWeights(w1, b1, w2, b2, labels, activation, Hidden.RELU, precision);
  }

  public static MlpKernel fromWeights(float[][] w1, float[] b1, float[][] w2, float[] b2,
      List<String> labels, Activation activation, Hidden hidden, Precision precision) {
    return new MlpKernel(activation, hidden,
        EncodedRows.encode(precision, w1.length, LinearKernel.dimOf(w1), LinearKernel.flatten(w1)),
        b1.clone(), LinearKernel.flatten(w2), b2.clone(), labels);
  }

  static MlpKernel fromPayload(KernelPayload p) {
    // Kernels written before the sigmoid option have no "hidden" entry: ReLU.
    String hidden = p.meta().getOrDefault("hidden", Hidden.RELU.label());
    return new MlpKernel(Activation.parse(p.get("activation")), Hidden.parse(hidden), p.rows("w1"), p.floats("b1"),
        p.floats("w2"), p.floats("b2"), p.strings("labels"));
  }

  @Override
  public KernelPayload toPayload() {
    KernelPayload p = new KernelPayload().meta("activation", activation.label());
    if (hiddenActivation != Hidden.RELU) {
      p.meta("hidden", hiddenActivation.label()); // ReLU kernels keep the bytes (and ids) they had
    }
    return p.rows("w1", w1)
        .floats("b1", b1).floats("w2", w2).floats("b2", b2).strings("labels", labels);
  }

  @Override
  public String op() {
    return OP;
  }

  @Override
  public Precision precision() {
    return w1.precision();
  }

  @Override
  public int dim() {
    return w1.dim();
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
    return w1.payloadBytes() + 4L * (b1.length + w2.length + b2.length);
  }

  @Override
  public void score(EncodedRows in, KernelOutput out, VectorOps ops) {
    Dots.check(displayName(), in, precision(), dim());
    int hidden = hidden();
    int classes = width();
    float[] h = new float[hidden];
    float[] y = out.reset(in.rows()).scores();
    for (int r = 0; r < in.rows(); r++) {
      for (int k = 0; k < hidden; k++) {
        float z = Dots.dot(in, r, w1, k, ops) + b1[k];
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
