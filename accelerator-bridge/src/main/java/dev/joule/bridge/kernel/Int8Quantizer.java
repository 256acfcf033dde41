package dev.joule.bridge.kernel;

/**
 * Symmetric int8 quantization: {@code q = round(x / s)} with {@code s = max|x| / 127}, clamped to
 * [-127, 127] so that negation never overflows. Used per row for activations and per output
 * channel for weights; the dequantized value is {@code q * s}.
 */
public final class Int8Quantizer {

  public static final int QMAX = 127;

  private Int8Quantizer() {}

  /**
   * Quantizes {@code src[srcOff, srcOff+len)} into {@code dst[dstOff, dstOff+len)}.
   *
   * @return the scale s; 0 when every value is 0 (all codes are then 0)
   */
  public static float quantize(float[] src, int srcOff, int len, byte[] dst, int dstOff) {
    float amax = 0f;
    for (int i = 0; i < len; i++) {
      amax = Math.max(amax, Math.abs(src[srcOff + i]));
    }
    if (amax == 0f) {
      java.util.Arrays.fill(dst, dstOff, dstOff + len, (byte) 0);
      return 0f;
    }
    float scale = amax / QMAX;
    float inv = QMAX / amax;
    if (Float.isInfinite(inv)) {
      // max|x| below 127 / Float.MAX_VALUE (~3.7e-37): 1/s overflows float, so divide in double.
      double invD = QMAX / (double) amax;
      for (int i = 0; i < len; i++) {
        long q = Math.round(src[srcOff + i] * invD);
        dst[dstOff + i] = (byte) Math.max(-QMAX, Math.min(QMAX, q));
      }
      return scale;
    }
    for (int i = 0; i < len; i++) {
      int q = Math.round(src[srcOff + i] * inv);
      dst[dstOff + i] = (byte) Math.max(-QMAX, Math.min(QMAX, q));
    }
    return scale;
  }

  /** {@code dst[i] = q[i] * scale}. */
  public static void dequantize(byte[] q, int qOff, int len, float scale, float[] dst, int dstOff) {
    for (int i = 0; i < len; i++) {
      dst[dstOff + i] = q[qOff + i] * scale;
    }
  }
}
