package dev.joule.bridge.vector;

/**
 * The inner loops every kernel is built from. Two implementations exist: {@link ScalarVectorOps}
 * (the reference every test compares against) and a JDK Vector API one that
 * {@link VectorOpsProvider} picks at run time when {@code jdk.incubator.vector} is available.
 */
public interface VectorOps {

  /** A short name for logs and energy records, e.g. {@code scalar} or {@code panama-512}. */
  String name();

  /** Σ a[aOff+i] * b[bOff+i] for i in [0, len), in fp32. */
  float dotF32(float[] a, int aOff, float[] b, int bOff, int len);

  /** Σ a[aOff+i] * b[bOff+i] for i in [0, len), accumulated exactly in int32. */
  int dotI8(byte[] a, int aOff, byte[] b, int bOff, int len);

  /**
   * Dot product of two packed int4 rows of {@code nBytes} bytes each (two signed nibbles per
   * byte, low nibble first), accumulated exactly in int32.
   */
  int dotI4Packed(byte[] a, int aOff, byte[] b, int bOff, int nBytes);

  /**
   * Dot product of an int8 row of {@code dim} values with an int4 row packed in split halves
   * (byte b: dim b low nibble, dim b + ⌈dim/2⌉ high nibble), exactly in int32.
   */
  int dotI8I4(byte[] q8, int qOff, byte[] p4, int pOff, int dim);

  /**
   * Σ u[uOff+i] * q[qOff+i] for i in [0, len): fp32 values against int8 codes, in fp32 (the
   * kernels whose activations are rescaled per input column, see
   * {@code dev.joule.bridge.kernel.WeightScaling#COLUMN_CHANNEL}). Summation order may differ
   * between implementations, as for {@link #dotF32}.
   */
  float dotF32I8(float[] u, int uOff, byte[] q, int qOff, int len);

  /**
   * Σ u[uOff+i] * code(i) for i in [0, dim): fp32 values against an int4 row packed in split
   * halves (as {@link #dotI8I4}), in fp32.
   */
  float dotF32I4(float[] u, int uOff, byte[] p4, int pOff, int dim);

  /**
   * {@code out[i] = (x[xOff+i] * s) * t[i]} for i in [0, len): a row rescaled per column, each
   * product rounded to float in that order, so every implementation gives the same bits.
   */
  void scaleF32(float[] x, int xOff, float s, float[] t, float[] out, int len);

  /** {@code out[i] = (q[qOff+i] * s) * t[i]}: an int8 row dequantized and rescaled per column. */
  void scaleI8(byte[] q, int qOff, float s, float[] t, float[] out, int len);

  /** Hamming distance of two bit rows of {@code nWords} little-endian 64-bit words each. */
  int hamming(byte[] a, int aOff, byte[] b, int bOff, int nWords);

  /**
   * Symmetric int8 quantization of {@code src[srcOff, srcOff+len)} into {@code dst}, bit for bit
   * {@link dev.joule.bridge.kernel.Int8Quantizer#quantize} (the oracle): the same scale and codes,
   * {@code Math.round}'s ties included.
   *
   * @return the scale
   */
  default float quantizeI8(float[] src, int srcOff, int len, byte[] dst, int dstOff) {
    return dev.joule.bridge.kernel.Int8Quantizer.quantize(src, srcOff, len, dst, dstOff);
  }

  /**
   * Hamming distances of one bit row {@code q} to {@code nRows} rows stored {@code stride} bytes
   * apart from {@code rowsOff}, into {@code out[0, nRows)}: the scan a binary top-k runs, with the
   * query's words loaded once.
   */
  default void hammingMany(byte[] q, int qOff, byte[] rows, int rowsOff, int stride, int nWords,
      int nRows, int[] out) {
    for (int j = 0; j < nRows; j++) {
      out[j] = hamming(q, qOff, rows, rowsOff + j * stride, nWords);
    }
  }

  /**
   * The dot of a 4-bit unsigned query with each of {@code nRows} bit rows: {@code out[j] =
   * Σ_i u_i·bit_i(row j) = Σ_k 2^k·popcount(plane_k AND row_j)}. The query comes as four bit
   * planes of {@code nWords} 64-bit words each, plane k at {@code planes[k·nWords]}, bit i of
   * plane k set when bit k of u_i is; rows as in {@link #hammingMany}. The asymmetric 1-bit
   * scan: four AND-popcounts a word where Hamming takes one XOR-popcount.
   */
  default void planeDotMany(long[] planes, int nWords, byte[] rows, int rowsOff, int stride, int nRows, int[] out) {
    for (int j = 0; j < nRows; j++) {
      int o = rowsOff + j * stride;
      int p0 = 0;
      int p1 = 0;
      int p2 = 0;
      int p3 = 0;
      for (int w = 0; w < nWords; w++) {
        long r = (long) ScalarVectorOps.LONGS.get(rows, o + 8 * w); // each row word read once
        p0 += Long.bitCount(planes[w] & r);
        p1 += Long.bitCount(planes[nWords + w] & r);
        p2 += Long.bitCount(planes[2 * nWords + w] & r);
        p3 += Long.bitCount(planes[3 * nWords + w] & r);
      }
      out[j] = p0 + 2 * p1 + 4 * p2 + 8 * p3;
    }
  }
  /** e^x in place over {@code x[off, off+len)}, as {@link FastExp#exp} gives it, bit for bit. */
  default void exp(float[] x, int off, int len) {
    for (int i = off; i < off + len; i++) {
      x[i] = FastExp.exp(x[i]);
    }
  }

  /**
   * The dots of {@code rows} int8 rows (codes at {@code q[qOff + r·dim …]}) with {@code outputs}
   * float weight rows ({@code w[j·dim …]}), in fp32: {@code y[yOff + r·outputs + j] = Σ_i
   * q[qOff + r·dim + i] · w[j·dim + i]}, summed in an order of the implementation's choosing.
   * Where {@code w} holds int8 codes and {@code dim ≤} {@link #EXACT_HEAD_DIM}, every product and
   * partial sum is an integer of magnitude at most 2^24, which a float holds exactly: the result is then
   * {@code (float) dotI8}, in any order.
   */
  default void headDotsI8(byte[] q, int qOff, int rows, int dim, float[] w, int outputs, float[] y, int yOff) {
    for (int r = 0; r < rows; r++) {
      int x = qOff + r * dim;
      for (int j = 0; j < outputs; j++) {
        float sum = 0;
        for (int i = 0; i < dim; i++) {
          sum += q[x + i] * w[j * dim + i];
        }
        y[yOff + r * outputs + j] = sum;
      }
    }
  }

  /**
   * The dots of {@code rows} fp32 rows ({@code x[xOff + r·dim …]}) with {@code outputs} fp32
   * weight rows ({@code w[j·dim …]}) into {@code y[yOff + r·outputs + j]}: {@link #dotF32} for each
   * pair, summed in an order of the implementation's choosing.
   */
  default void headDotsF32(float[] x, int xOff, int rows, int dim, float[] w, int outputs, float[] y, int yOff) {
    for (int r = 0; r < rows; r++) {
      for (int j = 0; j < outputs; j++) {
        y[yOff + r * outputs + j] = dotF32(x, xOff + r * dim, w, j * dim, dim);
      }
    }
  }

  /** The largest dim for {@link #headDotsI8}: 1024 · 128 · 128 = 2^24, for any int8 codes. */
  int EXACT_HEAD_DIM = 1024;
}
