package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.VectorOps;
import java.util.Arrays;
import java.util.List;

/**
 * {@code y = activation(W x + b)} with W of shape [outputs, dim].
 *
 * <p>fp32 keeps W as is. int8 keeps W as codes quantized symmetrically per output channel and
 * expects rows quantized symmetrically per row; the dot product accumulates exactly in int32 and
 * is rescaled once per output: {@code y_j = s_x * s_j * Σ q_x q_w + b_j}.
 */
public final class LinearKernel implements Kernel {

  public static final String OP = "linear";

  private final Activation activation;
  private final Precision precision;
  private final int dim;
  private final List<String> labels;
  private final float[] bias;
  private final float[] weights; // fp32: [outputs * dim]
  private final byte[] weightCodes; // int8: [outputs * dim]
  private final float[] weightScales; // int8: [outputs]

  private LinearKernel(Activation activation, Precision precision, int dim, List<String> labels,
      float[] bias, float[] weights, byte[] weightCodes, float[] weightScales) {
    this.activation = activation;
    this.precision = precision;
    this.dim = dim;
    this.labels = List.copyOf(labels);
    this.bias = bias;
    this.weights = weights;
    this.weightCodes = weightCodes;
    this.weightScales = weightScales;
  }

  /**
   * Builds a kernel at {@code precision} from full-precision weights {@code w[outputs][dim]}.
   */
  public static LinearKernel fromWeights(float[][] w, float[] bias, List<String> labels,
      Activation activation, Precision precision) {
    int outputs = w.length;
    if (outputs == 0) {
      throw new IllegalArgumentException("a linear kernel needs at least one output");
    }
    int dim = w[0].length;
    if (dim == 0) {
      throw new IllegalArgumentException("a linear kernel needs dim >= 1");
    }
    if (bias.length != outputs || labels.size() != outputs) {
      throw new IllegalArgumentException("weights have " + outputs + " rows but bias has "
          + bias.length + " and labels " + labels.size());
    }
    float[] flat = new float[outputs * dim];
    for (int j = 0; j < outputs; j++) {
      if (w[j].length != dim) {
        throw new IllegalArgumentException("weight row " + j + " has " + w[j].length
            + " values, expected " + dim);
      }
      for (int i = 0; i < dim; i++) {
        if (!Float.isFinite(w[j][i])) {
          throw new IllegalArgumentException("weight [" + j + "][" + i + "] is " + w[j][i]);
        }
      }
      System.arraycopy(w[j], 0, flat, j * dim, dim);
    }
    return fromFlat(flat, dim, bias.clone(), labels, activation, precision);
  }

  static LinearKernel fromFlat(float[] flat, int dim, float[] bias, List<String> labels,
      Activation activation, Precision precision) {
    int outputs = bias.length;
    switch (precision) {
      case FP32:
        return new LinearKernel(activation, precision, dim, labels, bias, flat, null, null);
      case INT8:
        byte[] codes = new byte[outputs * dim];
        float[] scales = new float[outputs];
        for (int j = 0; j < outputs; j++) {
          scales[j] = Int8Quantizer.quantize(flat, j * dim, dim, codes, j * dim);
        }
        return new LinearKernel(activation, precision, dim, labels, bias, null, codes, scales);
      default:
        throw new AssertionError(precision);
    }
  }

  /** For the codec: an int8 kernel from its stored codes. */
  static LinearKernel ofInt8(Activation activation, int dim, List<String> labels, float[] bias,
      byte[] codes, float[] scales) {
    return new LinearKernel(activation, Precision.INT8, dim, labels, bias, null, codes, scales);
  }

  @Override
  public String op() {
    return OP;
  }

  @Override
  public Precision precision() {
    return precision;
  }

  public Activation activation() {
    return activation;
  }

  @Override
  public int dim() {
    return dim;
  }

  @Override
  public int outputs() {
    return bias.length;
  }

  @Override
  public List<String> labels() {
    return labels;
  }

  @Override
  public String displayName() {
    return activation.label() + "@" + precision.label();
  }

  float[] bias() {
    return bias;
  }

  float[] weights() {
    return weights;
  }

  byte[] weightCodes() {
    return weightCodes;
  }

  float[] weightScales() {
    return weightScales;
  }

  @Override
  public long macsPerRow() {
    return (long) dim * outputs();
  }

  @Override
  public long parameterBytes() {
    long w = precision == Precision.FP32 ? 4L * dim * outputs() : (long) dim * outputs() + 4L * outputs();
    return w + 4L * outputs();
  }

  @Override
  public void score(EncodedRows in, float[] out, VectorOps ops) {
    if (in.precision() != precision) {
      throw new IllegalArgumentException("kernel " + displayName() + " got " + in.precision()
          + " rows");
    }
    if (in.dim() != dim) {
      throw new IllegalArgumentException("kernel " + displayName() + " expects dim " + dim
          + ", got " + in.dim());
    }
    int outputs = outputs();
    int rows = in.rows();
    if (out.length < rows * outputs) {
      throw new IllegalArgumentException("output holds " + out.length + " floats, need "
          + rows * outputs);
    }
    if (precision == Precision.FP32) {
      float[] x = in.values();
      for (int r = 0; r < rows; r++) {
        int o = r * outputs;
        for (int j = 0; j < outputs; j++) {
          out[o + j] = ops.dotF32(x, r * dim, weights, j * dim, dim) + bias[j];
        }
        activation.apply(out, o, outputs);
      }
    } else {
      byte[] q = in.codes();
      float[] sx = in.scales();
      for (int r = 0; r < rows; r++) {
        int o = r * outputs;
        for (int j = 0; j < outputs; j++) {
          int acc = ops.dotI8(q, r * dim, weightCodes, j * dim, dim);
          out[o + j] = acc * (sx[r] * weightScales[j]) + bias[j];
        }
        activation.apply(out, o, outputs);
      }
    }
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof LinearKernel k)) {
      return false;
    }
    return activation == k.activation && precision == k.precision && dim == k.dim
        && labels.equals(k.labels) && Arrays.equals(bias, k.bias) && Arrays.equals(weights, k.weights)
        && Arrays.equals(weightCodes, k.weightCodes) && Arrays.equals(weightScales, k.weightScales);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(bias) * 31 + dim;
  }
}
