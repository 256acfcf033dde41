package dev.joule.bridge.kernel;

import java.util.Locale;

/** What a linear kernel does to its logits. */
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
        float max = Float.NEGATIVE_INFINITY;
        for (int i = off; i < off + n; i++) {
          max = Math.max(max, out[i]);
        }
        double sum = 0;
        for (int i = off; i < off + n; i++) {
          double e = Math.exp(out[i] - max);
          out[i] = (float) e;
          sum += e;
        }
        for (int i = off; i < off + n; i++) {
          out[i] = (float) (out[i] / sum);
        }
        return;
      default:
        throw new AssertionError(this);
    }
  }
}
