package dev.joule.bridge.kernel;

/**
 * Symmetric int4 quantization, two codes per byte: {@code q = clamp(round(x / s), -7, 7)} with
 * {@code s = max|x| / 7}. -8 is never produced, so negation is safe.
 *
 * <p>Packing splits the row in halves, as Lucene's packed int4 does: with {@code h = ⌈dim/2⌉},
 * byte b holds dimension b in its low nibble and dimension b + h in its high nibble (0 past the
 * end). Both halves of an int8 row can then be loaded contiguously beside the packed bytes, which
 * the int8 × int4 dot product ({@link dev.joule.bridge.vector.VectorOps#dotI8I4}) needs.
 */
public final class Int4Quantizer {

  public static final int QMAX = 7;

  private Int4Quantizer() {}

  /** @return the scale; 0 when all values are 0 */
  public static float quantize(float[] src, int srcOff, int len, byte[] dst, int dstOff) {
    float amax = 0f;
    for (int i = 0; i < len; i++) {
      amax = Math.max(amax, Math.abs(src[srcOff + i]));
    }
    int half = (len + 1) / 2;
    if (amax == 0f) {
      java.util.Arrays.fill(dst, dstOff, dstOff + half, (byte) 0);
      return 0f;
    }
    float inv = QMAX / amax;
    for (int b = 0; b < half; b++) {
      int lo = code(src[srcOff + b], inv);
      int hi = b + half < len ? code(src[srcOff + b + half], inv) : 0;
      dst[dstOff + b] = (byte) ((lo & 0x0F) | (hi << 4));
    }
    return amax / QMAX;
  }

  private static int code(float x, float inv) {
    return Math.max(-QMAX, Math.min(QMAX, Math.round(x * inv)));
  }

  /** The signed code of dimension {@code i} of a packed row of {@code dim} values. */
  public static int code(byte[] packed, int rowOff, int dim, int i) {
    int half = (dim + 1) / 2;
    byte b = packed[rowOff + (i < half ? i : i - half)];
    return i < half ? (byte) (b << 4) >> 4 : b >> 4;
  }
}
