package dev.joule.bridge.kernel;

/**
 * 1-bit quantization: bit i is set when x_i &gt; 0. Bits are packed little-endian into 64-bit
 * words (byte k holds dims 8k..8k+7, bit i%8), so a row read as longs has dim i at bit i%64 of
 * word i/64; unused bits of the last word are 0 in every row and cancel in Hamming distance.
 * The scale is the mean |x|, so that {@code x ≈ s·(2b − 1)}.
 */
public final class BinaryQuantizer {

  private BinaryQuantizer() {}

  /** @return the scale (mean |x|) */
  public static float quantize(float[] src, int srcOff, int len, byte[] dst, int dstOff) {
    int bytes = Precision.BINARY.rowBytes(len);
    java.util.Arrays.fill(dst, dstOff, dstOff + bytes, (byte) 0);
    double sum = 0;
    for (int i = 0; i < len; i++) {
      float x = src[srcOff + i];
      sum += Math.abs(x);
      if (x > 0) {
        dst[dstOff + (i >>> 3)] |= (byte) (1 << (i & 7));
      }
    }
    return len == 0 ? 0f : (float) (sum / len);
  }

  public static boolean bit(byte[] codes, int rowOff, int i) {
    return (codes[rowOff + (i >>> 3)] & (1 << (i & 7))) != 0;
  }
}
