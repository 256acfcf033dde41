package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.VectorOps;
import java.util.Locale;

/** Similarity of a query row to a parameter row: dot, or cosine from the stored fp32 norms. */
public enum Similarity {
  DOT,
  COSINE;

  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  public static Similarity parse(String s) {
    try {
      return valueOf(s.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown metric '" + s + "' (supported: dot, cosine)");
    }
  }

  /**
   * For binary rows, cosine is the cosine of the two sign vectors, {@code 1 − 2h/dim}; dot is the
   * scaled sign dot product. Other precisions dequantize the dot product; cosine divides by the
   * fp32 norms (0 when a norm is 0).
   */
  public float of(EncodedRows q, int i, EncodedRows p, int j, VectorOps ops) {
    if (this == COSINE && q.precision() == Precision.BINARY) {
      return 1f - 2f * Dots.hamming(q, i, p, j, ops) / q.dim();
    }
    float d = Dots.dot(q, i, p, j, ops);
    if (this == DOT) {
      return d;
    }
    float n = q.norms()[i] * p.norms()[j];
    return n == 0f ? 0f : d / n;
  }
}
