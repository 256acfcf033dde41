package dev.joule.bench;

import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Precision;
import java.util.SplittableRandom;

/** Benchmark data: n rows of dim values at a precision, filled in chunks to bound memory. */
final class Rows {

  private Rows() {}

  /** Rows that occupy about {@code bytes} bytes at {@code p} (at least {@code minRows}). */
  static int rowsFor(Precision p, int dim, long bytes, int minRows) {
    return (int) Math.max(minRows, bytes / p.rowBytes(dim));
  }

  /**
   * Random rows. Throughput does not depend on the values, so quantized rows are random valid
   * codes written directly (quantizing 1 GiB of Gaussians would take minutes): int8 in
   * [-127, 127], int4 nibbles in [-7, 7], binary any bits (the padding bits of a 768-d row are none).
   */
  static EncodedRows make(Precision p, int n, int dim, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    if (p == Precision.FP32) {
      float[] v = new float[Math.multiplyExact(n, dim)];
      for (int i = 0; i < v.length; i++) {
        v[i] = rnd.nextFloat() * 2 - 1;
      }
      return EncodedRows.fp32(n, dim, v);
    }
    int stride = p.rowBytes(dim);
    byte[] codes = new byte[Math.multiplyExact(n, stride)];
    rnd.nextBytes(codes);
    for (int i = 0; i < codes.length; i++) {
      if (p == Precision.INT8 && codes[i] == -128) {
        codes[i] = -127;
      } else if (p == Precision.INT4) {
        int lo = Math.max(-7, (byte) (codes[i] << 4) >> 4);
        int hi = Math.max(-7, codes[i] >> 4);
        codes[i] = (byte) ((lo & 0x0F) | (hi << 4));
      }
    }
    float[] scales = new float[n];
    float[] norms = new float[n];
    java.util.Arrays.fill(scales, 0.01f);
    java.util.Arrays.fill(norms, 1f);
    return EncodedRows.quantized(p, n, dim, codes, scales, norms);
  }
}
