package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.VectorOps;
import java.util.List;
import java.util.Objects;

/**
 * {@code y = activation(W x + b)} with W of shape [outputs, dim]. Weight rows are quantized per
 * output channel at the kernel's precision (fp32, int8, int4) and dotted exactly against rows
 * quantized per row; each output is rescaled once: {@code y_j = s_x·s_j·Σ q_x q_w + b_j}.
 * Binary is refused: sign bits alone do not make a useful classifier head.
 */
public final class LinearKernel implements Kernel {

  public static final String OP = "linear";

  private final Activation activation;
  private final EncodedRows weights;
  private final float[] bias;
  private final List<String> labels;

  private LinearKernel(Activation activation, EncodedRows weights, float[] bias, List<String> labels) {
    if (weights.precision() == Precision.BINARY) {
      throw new IllegalArgumentException("linear kernels support fp32, int8 and int4, not binary "
          + "(1-bit weights lose the magnitudes a classifier head needs)");
    }
    if (bias.length != weights.rows() || labels.size() != weights.rows()) {
      throw new IllegalArgumentException("weights have " + weights.rows() + " rows but bias has "
          + bias.length + " and labels " + labels.size());
    }
    this.activation = activation;
    this.weights = weights;
    this.bias = bias;
    this.labels = List.copyOf(labels);
  }

  /** Builds a kernel at {@code precision} from full-precision weights {@code w[outputs][dim]}. */
  public static LinearKernel fromWeights(float[][] w, float[] bias, List<String> labels,
      Activation activation, Precision precision) {
    return new LinearKernel(activation, EncodedRows.encode(precision, w.length, dimOf(w), flatten(w)),
        bias.clone(), labels);
  }

  static LinearKernel fromPayload(KernelPayload p) {
    return new LinearKernel(Activation.parse(p.get("activation")), p.rows("w"), p.floats("bias"),
        p.strings("labels"));
  }

  @Override
  public KernelPayload toPayload() {
    return new KernelPayload().meta("activation", activation.label()).rows("w", weights)
        .floats("bias", bias).strings("labels", labels);
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
    return weights.precision();
  }

  public Activation activation() {
    return activation;
  }

  /** The weight rows as the kernel holds them (quantized per output channel). */
  public EncodedRows weights() {
    return weights;
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

  @Override
  public long macsPerRow() {
    return (long) dim() * width();
  }

  @Override
  public long parameterBytes() {
    return weights.payloadBytes() + 4L * bias.length;
  }

  @Override
  public void score(EncodedRows in, KernelOutput out, VectorOps ops) {
    Dots.check(displayName(), in, precision(), dim());
    int outputs = width();
    float[] y = out.reset(in.rows()).scores();
    for (int r = 0; r < in.rows(); r++) {
      int o = r * outputs;
      for (int j = 0; j < outputs; j++) {
        y[o + j] = Dots.dot(in, r, weights, j, ops) + bias[j];
      }
      activation.apply(y, o, outputs);
    }
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
