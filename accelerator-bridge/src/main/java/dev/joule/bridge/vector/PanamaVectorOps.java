package dev.joule.bridge.vector;

import dev.joule.bridge.kernel.Int8Quantizer;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * JDK Vector API implementation. Only loaded (reflectively, by {@link VectorOpsProvider}) when the
 * {@code jdk.incubator.vector} module is in the boot layer, so the rest of the bridge never links
 * against it.
 *
 * <p>int8 widens the way Lucene's {@code PanamaVectorUtilSupport} does: a quarter-width byte
 * vector is widened to shorts (the product of two int8 fits in a short, even -128 * -128), then
 * to ints at full width, so on 512-bit hardware 16 bytes → 16 shorts → 16 ints per step. Two
 * accumulators hide the add latency.
 */
final class PanamaVectorOps implements VectorOps {

  private static final VectorSpecies<Float> FLOAT = FloatVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Integer> INT = IntVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Short> SHORT =
      ShortVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(INT.vectorBitSize() / 2));
  private static final VectorSpecies<Byte> BYTE =
      ByteVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(INT.vectorBitSize() / 4));

  /** The provider refuses hardware narrower than this: a 64-bit byte step gains nothing. */
  static final int MIN_BITS = 256;

  PanamaVectorOps() {
    if (INT.vectorBitSize() < MIN_BITS) {
      throw new UnsupportedOperationException(
          "preferred vector size is " + INT.vectorBitSize() + " bits, below " + MIN_BITS);
    }
  }

  static int preferredBits() {
    return INT.vectorBitSize();
  }

  @Override
  public String name() {
    return "panama-" + INT.vectorBitSize();
  }

  @Override
  public float dotF32(float[] a, int aOff, float[] b, int bOff, int len) {
    int step = FLOAT.length();
    int i = 0;
    float sum = 0f;
    if (len >= 2 * step) {
      FloatVector acc1 = FloatVector.zero(FLOAT);
      FloatVector acc2 = FloatVector.zero(FLOAT);
      int bound = len - len % (2 * step);
      for (; i < bound; i += 2 * step) {
        acc1 = FloatVector.fromArray(FLOAT, a, aOff + i)
            .fma(FloatVector.fromArray(FLOAT, b, bOff + i), acc1);
        acc2 = FloatVector.fromArray(FLOAT, a, aOff + i + step)
            .fma(FloatVector.fromArray(FLOAT, b, bOff + i + step), acc2);
      }
      sum = acc1.add(acc2).reduceLanes(VectorOperators.ADD);
    }
    for (; i < len; i++) {
      sum += a[aOff + i] * b[bOff + i];
    }
    return sum;
  }

  @Override
  public int dotI8(byte[] a, int aOff, byte[] b, int bOff, int len) {
    int step = BYTE.length();
    int i = 0;
    int sum = 0;
    if (len >= 2 * step) {
      IntVector acc1 = IntVector.zero(INT);
      IntVector acc2 = IntVector.zero(INT);
      int bound = len - len % (2 * step);
      for (; i < bound; i += 2 * step) {
        acc1 = acc1.add(mulWiden(a, aOff + i, b, bOff + i));
        acc2 = acc2.add(mulWiden(a, aOff + i + step, b, bOff + i + step));
      }
      sum = acc1.add(acc2).reduceLanes(VectorOperators.ADD);
    }
    for (; i < len; i++) {
      sum += a[aOff + i] * b[bOff + i];
    }
    return sum;
  }

  private static IntVector mulWiden(byte[] a, int aOff, byte[] b, int bOff) {
    ShortVector va = (ShortVector) ByteVector.fromArray(BYTE, a, aOff)
        .convertShape(VectorOperators.B2S, SHORT, 0);
    ShortVector vb = (ShortVector) ByteVector.fromArray(BYTE, b, bOff)
        .convertShape(VectorOperators.B2S, SHORT, 0);
    return (IntVector) va.mul(vb).convertShape(VectorOperators.S2I, INT, 0);
  }

  @Override
  public int dotI4Packed(byte[] a, int aOff, byte[] b, int bOff, int nBytes) {
    int step = BYTE.length();
    int i = 0;
    int sum = 0;
    if (nBytes >= 2 * step) {
      IntVector acc1 = IntVector.zero(INT);
      IntVector acc2 = IntVector.zero(INT);
      int bound = nBytes - nBytes % (2 * step);
      for (; i < bound; i += 2 * step) {
        acc1 = acc1.add(mulWidenNibbles(a, aOff + i, b, bOff + i));
        acc2 = acc2.add(mulWidenNibbles(a, aOff + i + step, b, bOff + i + step));
      }
      sum = acc1.add(acc2).reduceLanes(VectorOperators.ADD);
    }
    for (; i < nBytes; i++) {
      byte x = a[aOff + i];
      byte y = b[bOff + i];
      sum += ((byte) (x << 4) >> 4) * ((byte) (y << 4) >> 4) + (x >> 4) * (y >> 4);
    }
    return sum;
  }

  @Override
  public int dotI8I4(byte[] q8, int qOff, byte[] p4, int pOff, int dim) {
    int half = (dim + 1) / 2;
    int full = dim / 2; // bytes whose high nibble is a real dimension
    int step = BYTE.length();
    int b = 0;
    int sum = 0;
    if (full >= step) {
      IntVector acc = IntVector.zero(INT);
      int bound = full - full % step;
      for (; b < bound; b += step) {
        ByteVector p = ByteVector.fromArray(BYTE, p4, pOff + b);
        ShortVector lo = widen(p.lanewise(VectorOperators.LSHL, 4).lanewise(VectorOperators.ASHR, 4));
        ShortVector hi = widen(p.lanewise(VectorOperators.ASHR, 4));
        ShortVector qa = widen(ByteVector.fromArray(BYTE, q8, qOff + b));
        ShortVector qb = widen(ByteVector.fromArray(BYTE, q8, qOff + b + half));
        // |127·7| + |127·7| fits a short.
        acc = acc.add(qa.mul(lo).add(qb.mul(hi)).convertShape(VectorOperators.S2I, INT, 0));
      }
      sum = acc.reduceLanes(VectorOperators.ADD);
    }
    for (; b < half; b++) {
      byte p = p4[pOff + b];
      sum += q8[qOff + b] * ((byte) (p << 4) >> 4);
      if (b + half < dim) {
        sum += q8[qOff + b + half] * (p >> 4);
      }
    }
    return sum;
  }

  @Override
  public float dotF32I8(float[] u, int uOff, byte[] q, int qOff, int len) {
    // BYTE has as many lanes as FLOAT: one byte load widens straight to one float vector. Four
    // accumulators: an FMA's latency is four times an integer add's.
    int step = FLOAT.length();
    int i = 0;
    float sum = 0f;
    if (len >= 4 * step) {
      FloatVector acc1 = FloatVector.zero(FLOAT);
      FloatVector acc2 = FloatVector.zero(FLOAT);
      FloatVector acc3 = FloatVector.zero(FLOAT);
      FloatVector acc4 = FloatVector.zero(FLOAT);
      int bound = len - len % (4 * step);
      for (; i < bound; i += 4 * step) {
        acc1 = FloatVector.fromArray(FLOAT, u, uOff + i).fma(toFloats(ByteVector.fromArray(BYTE, q, qOff + i)), acc1);
        acc2 = FloatVector.fromArray(FLOAT, u, uOff + i + step)
            .fma(toFloats(ByteVector.fromArray(BYTE, q, qOff + i + step)), acc2);
        acc3 = FloatVector.fromArray(FLOAT, u, uOff + i + 2 * step)
            .fma(toFloats(ByteVector.fromArray(BYTE, q, qOff + i + 2 * step)), acc3);
        acc4 = FloatVector.fromArray(FLOAT, u, uOff + i + 3 * step)
            .fma(toFloats(ByteVector.fromArray(BYTE, q, qOff + i + 3 * step)), acc4);
      }
      sum = acc1.add(acc2).add(acc3.add(acc4)).reduceLanes(VectorOperators.ADD);
    }
    for (; i + step <= len; i += step) {
      sum += FloatVector.fromArray(FLOAT, u, uOff + i).mul(toFloats(ByteVector.fromArray(BYTE, q, qOff + i)))
          .reduceLanes(VectorOperators.ADD);
    }
    for (; i < len; i++) {
      sum += u[uOff + i] * q[qOff + i];
    }
    return sum;
  }

  @Override
  public float dotF32I4(float[] u, int uOff, byte[] p4, int pOff, int dim) {
    int half = (dim + 1) / 2;
    int full = dim / 2; // bytes whose high nibble is a real dimension
    int step = FLOAT.length();
    int b = 0;
    float sum = 0f;
    if (full >= step) {
      FloatVector lo = FloatVector.zero(FLOAT);
      FloatVector hi = FloatVector.zero(FLOAT);
      int bound = full - full % step;
      for (; b < bound; b += step) {
        ByteVector p = ByteVector.fromArray(BYTE, p4, pOff + b);
        lo = FloatVector.fromArray(FLOAT, u, uOff + b)
            .fma(toFloats(p.lanewise(VectorOperators.LSHL, 4).lanewise(VectorOperators.ASHR, 4)), lo);
        hi = FloatVector.fromArray(FLOAT, u, uOff + b + half).fma(toFloats(p.lanewise(VectorOperators.ASHR, 4)), hi);
      }
      sum = lo.add(hi).reduceLanes(VectorOperators.ADD);
    }
    for (; b < half; b++) {
      byte p = p4[pOff + b];
      sum += u[uOff + b] * ((byte) (p << 4) >> 4);
      if (b + half < dim) {
        sum += u[uOff + b + half] * (p >> 4);
      }
    }
    return sum;
  }

  @Override
  public void scaleF32(float[] x, int xOff, float s, float[] t, float[] out, int len) {
    int step = FLOAT.length();
    int i = 0;
    for (int bound = len - len % step; i < bound; i += step) {
      FloatVector.fromArray(FLOAT, x, xOff + i).mul(s).mul(FloatVector.fromArray(FLOAT, t, i)).intoArray(out, i);
    }
    for (; i < len; i++) {
      out[i] = x[xOff + i] * s * t[i];
    }
  }

  @Override
  public void scaleI8(byte[] q, int qOff, float s, float[] t, float[] out, int len) {
    int step = FLOAT.length();
    int i = 0;
    for (int bound = len - len % step; i < bound; i += step) {
      toFloats(ByteVector.fromArray(BYTE, q, qOff + i)).mul(s).mul(FloatVector.fromArray(FLOAT, t, i)).intoArray(out, i);
    }
    for (; i < len; i++) {
      out[i] = q[qOff + i] * s * t[i];
    }
  }

  /**
   * The largest |x| in lanes, then {@code Math.round(x · 127/max)} in lanes: Java's rounding
   * (ties up) done on the float's bits as {@code Math.round} does it, since a float add of 0.5
   * rounds some values (0.49999997f) the other way. A row whose largest |x| is 0, NaN, infinite or
   * so small that 127/max overflows goes to the scalar oracle.
   */
  @Override
  public float quantizeI8(float[] src, int srcOff, int len, byte[] dst, int dstOff) {
    int step = FLOAT.length();
    int bound = len - len % step;
    FloatVector acc = FloatVector.zero(FLOAT);
    int i = 0;
    for (; i < bound; i += step) {
      acc = acc.max(FloatVector.fromArray(FLOAT, src, srcOff + i).abs());
    }
    float amax = acc.reduceLanes(VectorOperators.MAX);
    for (; i < len; i++) {
      amax = Math.max(amax, Math.abs(src[srcOff + i]));
    }
    float inv = Int8Quantizer.QMAX / amax;
    if (!(amax > 0f) || !Float.isFinite(amax) || Float.isInfinite(inv)) {
      return Int8Quantizer.quantize(src, srcOff, len, dst, dstOff);
    }
    i = 0;
    for (; i < bound; i += step) {
      IntVector bits = FloatVector.fromArray(FLOAT, src, srcOff + i).mul(inv).reinterpretAsInts();
      // |x·inv| <= 127 (plus rounding), so the exponent's shift is 16 or more; below 2^-10 it
      // would pass 31, where Math.round's value is 0, as it is for a shift of 31.
      IntVector shift = IntVector.broadcast(INT, ROUND_SHIFT_BASE)
          .sub(bits.and(FLOAT_EXPONENT).lanewise(VectorOperators.LSHR, 23)).min(31);
      IntVector r = bits.and(FLOAT_SIGNIFICAND).or(FLOAT_SIGNIFICAND + 1);
      r = r.lanewise(VectorOperators.NEG, bits.compare(VectorOperators.LT, 0));
      IntVector q = r.lanewise(VectorOperators.ASHR, shift).add(1).lanewise(VectorOperators.ASHR, 1)
          .max(-Int8Quantizer.QMAX).min(Int8Quantizer.QMAX);
      ((ByteVector) q.convertShape(VectorOperators.I2B, BYTE, 0)).intoArray(dst, dstOff + i);
    }
    for (; i < len; i++) {
      int q = Math.round(src[srcOff + i] * inv);
      dst[dstOff + i] = (byte) Math.max(-Int8Quantizer.QMAX, Math.min(Int8Quantizer.QMAX, q));
    }
    return amax / Int8Quantizer.QMAX;
  }

  /** {@code Math.round(float)}'s constants: significand width 24 - 2 + exponent bias 127. */
  private static final int ROUND_SHIFT_BASE = 149;
  private static final int FLOAT_EXPONENT = 0x7f800000;
  private static final int FLOAT_SIGNIFICAND = 0x007fffff;

  private static FloatVector toFloats(ByteVector v) {
    return (FloatVector) v.convertShape(VectorOperators.B2F, FLOAT, 0);
  }

  /** Low nibbles (shift left then arithmetic right) and high nibbles, products summed as shorts. */
  private static IntVector mulWidenNibbles(byte[] a, int aOff, byte[] b, int bOff) {
    ByteVector va = ByteVector.fromArray(BYTE, a, aOff);
    ByteVector vb = ByteVector.fromArray(BYTE, b, bOff);
    ShortVector aLo = widen(va.lanewise(VectorOperators.LSHL, 4).lanewise(VectorOperators.ASHR, 4));
    ShortVector bLo = widen(vb.lanewise(VectorOperators.LSHL, 4).lanewise(VectorOperators.ASHR, 4));
    ShortVector aHi = widen(va.lanewise(VectorOperators.ASHR, 4));
    ShortVector bHi = widen(vb.lanewise(VectorOperators.ASHR, 4));
    return (IntVector) aLo.mul(bLo).add(aHi.mul(bHi)).convertShape(VectorOperators.S2I, INT, 0);
  }

  private static ShortVector widen(ByteVector v) {
    return (ShortVector) v.convertShape(VectorOperators.B2S, SHORT, 0);
  }

  /**
   * JDK 17's Vector API has no lane popcount, so this is Long.bitCount (POPCNT) over words, with
   * four independent accumulators so the popcounts pipeline.
   */
  @Override
  public int hamming(byte[] a, int aOff, byte[] b, int bOff, int nWords) {
    int h0 = 0;
    int h1 = 0;
    int h2 = 0;
    int h3 = 0;
    int w = 0;
    for (; w + 4 <= nWords; w += 4) {
      int o = 8 * w;
      h0 += Long.bitCount((long) ScalarVectorOps.LONGS.get(a, aOff + o) ^ (long) ScalarVectorOps.LONGS.get(b, bOff + o));
      h1 += Long.bitCount((long) ScalarVectorOps.LONGS.get(a, aOff + o + 8) ^ (long) ScalarVectorOps.LONGS.get(b, bOff + o + 8));
      h2 += Long.bitCount((long) ScalarVectorOps.LONGS.get(a, aOff + o + 16) ^ (long) ScalarVectorOps.LONGS.get(b, bOff + o + 16));
      h3 += Long.bitCount((long) ScalarVectorOps.LONGS.get(a, aOff + o + 24) ^ (long) ScalarVectorOps.LONGS.get(b, bOff + o + 24));
    }
    for (; w < nWords; w++) {
      h0 += Long.bitCount((long) ScalarVectorOps.LONGS.get(a, aOff + 8 * w) ^ (long) ScalarVectorOps.LONGS.get(b, bOff + 8 * w));
    }
    return h0 + h1 + h2 + h3;
  }

  @Override
  public void hammingMany(byte[] q, int qOff, byte[] rows, int rowsOff, int stride, int nWords,
      int nRows, int[] out) {
    long[] qw = new long[nWords];
    for (int w = 0; w < nWords; w++) {
      qw[w] = (long) ScalarVectorOps.LONGS.get(q, qOff + 8 * w);
    }
    // Four rows per step, one from each quarter of the block: four sequential streams, so the
    // hardware prefetcher keeps four times the memory reads in flight. From DRAM this scans
    // 1.6-1.7x the rows/s of four (or two) adjacent rows per step, which share one stream
    // (bench/README.md); in cache it is the same.
    int quarter = nRows / 4;
    for (int i = 0; i < quarter; i++) {
      int o0 = rowsOff + i * stride;
      int o1 = o0 + quarter * stride;
      int o2 = o1 + quarter * stride;
      int o3 = o2 + quarter * stride;
      int h0 = 0;
      int h1 = 0;
      int h2 = 0;
      int h3 = 0;
      for (int w = 0; w < nWords; w++) {
        long x = qw[w];
        h0 += Long.bitCount(x ^ (long) ScalarVectorOps.LONGS.get(rows, o0 + 8 * w));
        h1 += Long.bitCount(x ^ (long) ScalarVectorOps.LONGS.get(rows, o1 + 8 * w));
        h2 += Long.bitCount(x ^ (long) ScalarVectorOps.LONGS.get(rows, o2 + 8 * w));
        h3 += Long.bitCount(x ^ (long) ScalarVectorOps.LONGS.get(rows, o3 + 8 * w));
      }
      out[i] = h0;
      out[i + quarter] = h1;
      out[i + 2 * quarter] = h2;
      out[i + 3 * quarter] = h3;
    }
    int j = 4 * quarter;
    for (; j < nRows; j++) {
      out[j] = hamming(q, qOff, rows, rowsOff + j * stride, nWords);
    }
  }

  /**
   * Two rows against four classes per pass: each row's bytes are widened to floats once per
   * pass and each weight vector loaded once for both rows, eight accumulators in registers. The
   * pairwise {@link #dotI8} widened both sides through shorts and reduced its lanes per pair.
   *
   * <p>Every (row, class) sum is taken the same way wherever it falls (one accumulator stepping a
   * lane's width, the lanes reduced, then the tail in order), so a row gets the same bits whatever
   * its place in a batch: the last block's missing classes repeat the last class, and an odd last
   * row is paired with itself; the repeats write the same values twice.
   */
  @Override
  public void headDotsI8(byte[] q, int qOff, int rows, int dim, float[] w, int outputs, float[] y, int yOff) {
    for (int r = 0; r < rows; r += 2) {
      int x1 = qOff + r * dim;
      int x2 = r + 1 < rows ? x1 + dim : x1;
      int o1 = yOff + r * outputs;
      int o2 = r + 1 < rows ? o1 + outputs : o1;
      for (int j = 0; j < outputs; j += 4) {
        int last = outputs - 1;
        headDotsI8Block(q, x1, x2, dim, w, j, Math.min(j + 1, last), Math.min(j + 2, last), Math.min(j + 3, last),
            y, o1, o2);
      }
    }
  }

  private static void headDotsI8Block(byte[] q, int x1, int x2, int dim, float[] w, int j0, int j1, int j2, int j3,
      float[] y, int o1, int o2) {
    int step = FLOAT.length();
    int bound = dim - dim % step;
    FloatVector a0 = FloatVector.zero(FLOAT);
    FloatVector a1 = a0;
    FloatVector a2 = a0;
    FloatVector a3 = a0;
    FloatVector b0 = a0;
    FloatVector b1 = a0;
    FloatVector b2 = a0;
    FloatVector b3 = a0;
    for (int i = 0; i < bound; i += step) {
      FloatVector u = widen(q, x1 + i);
      FloatVector v = widen(q, x2 + i);
      FloatVector c = FloatVector.fromArray(FLOAT, w, j0 * dim + i);
      a0 = c.fma(u, a0);
      b0 = c.fma(v, b0);
      c = FloatVector.fromArray(FLOAT, w, j1 * dim + i);
      a1 = c.fma(u, a1);
      b1 = c.fma(v, b1);
      c = FloatVector.fromArray(FLOAT, w, j2 * dim + i);
      a2 = c.fma(u, a2);
      b2 = c.fma(v, b2);
      c = FloatVector.fromArray(FLOAT, w, j3 * dim + i);
      a3 = c.fma(u, a3);
      b3 = c.fma(v, b3);
    }
    // Each accumulator reduced by name: with the vectors stored in an array (boxed) the head
    // ran at 0.37× this speed (kernel bench, 2026-12-06).
    y[o1 + j3] = a3.reduceLanes(VectorOperators.ADD) + tail(q, x1, w, j3, dim, bound);
    y[o1 + j2] = a2.reduceLanes(VectorOperators.ADD) + tail(q, x1, w, j2, dim, bound);
    y[o1 + j1] = a1.reduceLanes(VectorOperators.ADD) + tail(q, x1, w, j1, dim, bound);
    y[o1 + j0] = a0.reduceLanes(VectorOperators.ADD) + tail(q, x1, w, j0, dim, bound);
    y[o2 + j3] = b3.reduceLanes(VectorOperators.ADD) + tail(q, x2, w, j3, dim, bound);
    y[o2 + j2] = b2.reduceLanes(VectorOperators.ADD) + tail(q, x2, w, j2, dim, bound);
    y[o2 + j1] = b1.reduceLanes(VectorOperators.ADD) + tail(q, x2, w, j1, dim, bound);
    y[o2 + j0] = b0.reduceLanes(VectorOperators.ADD) + tail(q, x2, w, j0, dim, bound);
  }

  /** The dot of row x and class j over the dims [from, dim) the lanes did not cover. */
  private static float tail(byte[] q, int x, float[] w, int j, int dim, int from) {
    float sum = 0;
    for (int i = from; i < dim; i++) {
      sum += q[x + i] * w[j * dim + i];
    }
    return sum;
  }

  /** A lane's worth of int8 codes as floats. */
  private static FloatVector widen(byte[] q, int at) {
    return (FloatVector) ByteVector.fromArray(BYTE, q, at).convertShape(VectorOperators.B2F, FLOAT, 0);
  }

  /** {@link #headDotsI8}'s blocking for fp32 rows (the fp32 head, the baseline int8 is measured against). */
  @Override
  public void headDotsF32(float[] x, int xOff, int rows, int dim, float[] w, int outputs, float[] y, int yOff) {
    for (int r = 0; r < rows; r += 2) {
      int x1 = xOff + r * dim;
      int x2 = r + 1 < rows ? x1 + dim : x1;
      int o1 = yOff + r * outputs;
      int o2 = r + 1 < rows ? o1 + outputs : o1;
      for (int j = 0; j < outputs; j += 4) {
        int last = outputs - 1;
        headDotsF32Block(x, x1, x2, dim, w, j, Math.min(j + 1, last), Math.min(j + 2, last), Math.min(j + 3, last),
            y, o1, o2);
      }
    }
  }

  private static void headDotsF32Block(float[] x, int x1, int x2, int dim, float[] w, int j0, int j1, int j2, int j3,
      float[] y, int o1, int o2) {
    int step = FLOAT.length();
    int bound = dim - dim % step;
    FloatVector a0 = FloatVector.zero(FLOAT);
    FloatVector a1 = a0;
    FloatVector a2 = a0;
    FloatVector a3 = a0;
    FloatVector b0 = a0;
    FloatVector b1 = a0;
    FloatVector b2 = a0;
    FloatVector b3 = a0;
    for (int i = 0; i < bound; i += step) {
      FloatVector u = FloatVector.fromArray(FLOAT, x, x1 + i);
      FloatVector v = FloatVector.fromArray(FLOAT, x, x2 + i);
      FloatVector c = FloatVector.fromArray(FLOAT, w, j0 * dim + i);
      a0 = c.fma(u, a0);
      b0 = c.fma(v, b0);
      c = FloatVector.fromArray(FLOAT, w, j1 * dim + i);
      a1 = c.fma(u, a1);
      b1 = c.fma(v, b1);
      c = FloatVector.fromArray(FLOAT, w, j2 * dim + i);
      a2 = c.fma(u, a2);
      b2 = c.fma(v, b2);
      c = FloatVector.fromArray(FLOAT, w, j3 * dim + i);
      a3 = c.fma(u, a3);
      b3 = c.fma(v, b3);
    }
    y[o1 + j3] = a3.reduceLanes(VectorOperators.ADD) + tailF32(x, x1, w, j3, dim, bound);
    y[o1 + j2] = a2.reduceLanes(VectorOperators.ADD) + tailF32(x, x1, w, j2, dim, bound);
    y[o1 + j1] = a1.reduceLanes(VectorOperators.ADD) + tailF32(x, x1, w, j1, dim, bound);
    y[o1 + j0] = a0.reduceLanes(VectorOperators.ADD) + tailF32(x, x1, w, j0, dim, bound);
    y[o2 + j3] = b3.reduceLanes(VectorOperators.ADD) + tailF32(x, x2, w, j3, dim, bound);
    y[o2 + j2] = b2.reduceLanes(VectorOperators.ADD) + tailF32(x, x2, w, j2, dim, bound);
    y[o2 + j1] = b1.reduceLanes(VectorOperators.ADD) + tailF32(x, x2, w, j1, dim, bound);
    y[o2 + j0] = b0.reduceLanes(VectorOperators.ADD) + tailF32(x, x2, w, j0, dim, bound);
  }

  private static float tailF32(float[] x, int a, float[] w, int j, int dim, int from) {
    float sum = 0;
    for (int i = from; i < dim; i++) {
      sum += x[a + i] * w[j * dim + i];
    }
    return sum;
  }

  /** {@link FastExp#exp} in lanes: the same operations in the same order, so the same bits. */
  @Override
  public void exp(float[] x, int off, int len) {
    int step = FLOAT.length();
    FloatVector negLn2Hi = FloatVector.broadcast(FLOAT, -FastExp.LN2_HI);
    FloatVector negLn2Lo = FloatVector.broadcast(FLOAT, -FastExp.LN2_LO);
    FloatVector p0 = FloatVector.broadcast(FLOAT, FastExp.P0);
    FloatVector p1 = FloatVector.broadcast(FLOAT, FastExp.P1);
    FloatVector p2 = FloatVector.broadcast(FLOAT, FastExp.P2);
    FloatVector p3 = FloatVector.broadcast(FLOAT, FastExp.P3);
    FloatVector p4 = FloatVector.broadcast(FLOAT, FastExp.P4);
    FloatVector p5 = FloatVector.broadcast(FLOAT, FastExp.P5);
    int i = off;
    for (int bound = off + len - len % step; i < bound; i += step) {
      FloatVector in = FloatVector.fromArray(FLOAT, x, i);
      FloatVector v = in.min(FastExp.HI);
      FloatVector t = v.mul(FastExp.LOG2E).add(FastExp.ROUND);
      FloatVector n = t.sub(FastExp.ROUND);
      FloatVector r = n.fma(negLn2Hi, v);
      r = n.fma(negLn2Lo, r);
      FloatVector p = p0.fma(r, p1);
      p = p.fma(r, p2);
      p = p.fma(r, p3);
      p = p.fma(r, p4);
      p = p.fma(r, p5);
      FloatVector e = p.fma(r.mul(r), r).add(1f);
      FloatVector pow2 = t.reinterpretAsInts().sub(FastExp.ROUND_BITS).add(127)
          .lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
      e.mul(pow2).blend(0f, in.compare(VectorOperators.LT, FastExp.LO)).intoArray(x, i);
    }
    for (; i < off + len; i++) {
      x[i] = FastExp.exp(x[i]);
    }
  }
}
