package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.FastExp;
import dev.joule.bridge.vector.VectorOps;
import java.util.Locale;

/**
 * What a linear kernel does to its logits. Softmax takes e^x from {@link FastExp} (about 2 ulp in
 * float, the same bits in a loop and in vector lanes): with {@code Math.exp} at about 14 ns a call
 * here, a 10-class softmax cost more than the head's dots.
 */
public enum Activation {
  RAW,
  LOGISTIC,
  SOFTMAX;

  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  public static Activation parse(String s) {
    try {
      return valueOf(s.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "unknown activation '" + s + "' (supported: raw, logistic, softmax)");
    }
  }

  /** Applies the activation in place to {@code out[off, off+n)}. */
  public void apply(float[] out, int off, int n) {
    switch (this) {
      case RAW:
        return;
      case LOGISTIC:
        for (int i = off; i < off + n; i++) {
          out[i] = (float) (1.0 / (1.0 + Math.exp(-out[i])));
        }
        return;
      case SOFTMAX:
        subtractMax(out, off, n);
        for (int i = off; i < off + n; i++) {
          out[i] = FastExp.exp(out[i]);
        }
        normalize(out, off, n);
        return;
      default:
        throw new AssertionError(this);
    }
  }

  /**
   * {@link #apply} to each of {@code rows} rows of {@code n} values at {@code out[0, rows·n)}, the
   * same values, with softmax's exponentials taken over the whole batch in vector lanes.
   */
  public void applyRows(float[] out, int rows, int n, VectorOps ops) {
    if (this != SOFTMAX) {
      for (int r = 0; r < rows; r++) {
        apply(out, r * n, n);
      }
      return;
    }
    for (int r = 0; r < rows; r++) {
      subtractMax(out, r * n, n);
    }
    ops.exp(out, 0, rows * n);
    for (int r = 0; r < rows; r++) {
      normalize(out, r * n, n);
    }
  }

  /** Subtracts the row's largest value (e^x then stays ≤ 1). A NaN logit makes the row NaN. */
  private static void subtractMax(float[] out, int off, int n) {
    float max = out[off];
    for (int i = off + 1; i < off + n; i++) {
      max = out[i] > max ? out[i] : max;
    }
    for (int i = off; i < off + n; i++) {
      out[i] -= max;
    }
  }

  /** Divides by the sum: in float, one division a row (the sum is at least 1, the max's e^0). */
  private static void normalize(float[] out, int off, int n) {
    float sum = 0;
    for (int i = off; i < off + n; i++) {
      sum += out[i];
    }
    float inv = 1f / sum;
    for (int i = off; i < off + n; i++) {
      out[i] *= inv;
    }
  }
}
