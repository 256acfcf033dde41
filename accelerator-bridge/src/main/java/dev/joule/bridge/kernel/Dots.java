package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.VectorOps;

/**
 * The fp32-scale dot product of row i of {@code a} and row j of {@code b}, both at the same
 * precision: exact integer arithmetic on the codes, then one rescale by the two row scales. For
 * binary rows it is {@code s_a·s_b·(dim − 2·hamming)}, the dot of the two sign vectors scaled.
 */
public final class Dots {

  private Dots() {}

  public static float dot(EncodedRows a, int i, EncodedRows b, int j, VectorOps ops) {
    int dim = a.dim();
    if (a.precision() != b.precision()) {
      if (a.precision() == Precision.INT8 && b.precision() == Precision.INT4) {
        return ops.dotI8I4(a.codes(), i * dim, b.codes(), j * b.stride(), dim) * (a.scales()[i] * b.scales()[j]);
      }
      throw new IllegalArgumentException("no dot product of " + a.precision() + " rows with " + b.precision() + " rows");
    }
    switch (a.precision()) {
      case FP32:
        return ops.dotF32(a.values(), i * dim, b.values(), j * dim, dim);
      case INT8:
        return ops.dotI8(a.codes(), i * dim, b.codes(), j * dim, dim) * (a.scales()[i] * b.scales()[j]);
      case INT4: {
        int s = a.stride();
        return ops.dotI4Packed(a.codes(), i * s, b.codes(), j * s, s) * (a.scales()[i] * b.scales()[j]);
      }
      case BINARY: {
        int s = a.stride();
        int h = ops.hamming(a.codes(), i * s, b.codes(), j * s, s / 8);
        return (dim - 2 * h) * (a.scales()[i] * b.scales()[j]);
      }
      default:
        throw new AssertionError(a.precision());
    }
  }

  /** Hamming distance of two binary rows. */
  public static int hamming(EncodedRows a, int i, EncodedRows b, int j, VectorOps ops) {
    int s = a.stride();
    return ops.hamming(a.codes(), i * s, b.codes(), j * s, s / 8);
  }

  /**
   * Checks that a batch can be dotted against parameters at {@code p} and {@code dim}: rows at
   * the same precision, or int8 rows against int4 parameters (W4A8).
   */
  public static void check(String kernel, EncodedRows in, Precision p, int dim) {
    if (in.precision() != p && !(p == Precision.INT4 && in.precision() == Precision.INT8)) {
      throw new IllegalArgumentException("kernel " + kernel + " takes " + (p == Precision.INT4 ? "int8 or int4" : p)
          + " rows, got a batch at " + in.precision());
    }
    if (in.dim() != dim) {
      throw new IllegalArgumentException("kernel " + kernel + " expects dim " + dim + ", got a batch of dim " + in.dim());
    }
  }
}
