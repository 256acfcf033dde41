package dev.joule.bridge.kernel;

/**
 * Rows at one precision: fp32 values, or codes with one scale per row. Every row also carries the
 * L2 norm of its fp32 values (for cosine). Row-major; arrays may be longer than needed.
 *
 * <p>The same shape holds queries (a batch of embeddings) and kernel parameters (a linear
 * layer's weight rows, K centroids, a top-k reference set), so one {@link Dots#dot} serves them
 * all. A batch may carry a second encoding of the same rows, {@link #rescore()}, used by binary
 * top-k to rescore its candidates at a higher precision.
 */
public final class EncodedRows {
  private final Precision precision;
  private final int rows;
  private final int dim;
  private final float[] values;
  private final byte[] codes;
  private final float[] scales;
  private final float[] norms;
  private final EncodedRows rescore;

  private EncodedRows(Precision precision, int rows, int dim, float[] values, byte[] codes,
      float[] scales, float[] norms, EncodedRows rescore) {
    this.precision = precision;
    this.rows = rows;
    this.dim = dim;
    this.values = values;
    this.codes = codes;
    this.scales = scales;
    this.norms = norms;
    this.rescore = rescore;
    if (rows < 0 || dim < 1) {
      throw new IllegalArgumentException("rows must be >= 0 and dim >= 1, got " + rows + "x" + dim);
    }
    if (norms.length < rows) {
      throw new IllegalArgumentException("norms too short for " + rows + " rows");
    }
  }

  public static EncodedRows fp32(int rows, int dim, float[] values) {
    if (values.length < (long) rows * dim) {
      throw new IllegalArgumentException("values holds " + values.length + " floats, need " + (long) rows * dim);
    }
    float[] norms = new float[rows];
    for (int r = 0; r < rows; r++) {
      norms[r] = norm(values, r * dim, dim);
    }
    return new EncodedRows(Precision.FP32, rows, dim, values, null, null, norms, null);
  }

  /** fp32 rows whose norms are already known (a request batch carries them). */
  public static EncodedRows fp32(int rows, int dim, float[] values, float[] norms) {
    if (values.length < (long) rows * dim) {
      throw new IllegalArgumentException("values holds " + values.length + " floats, need " + (long) rows * dim);
    }
    return new EncodedRows(Precision.FP32, rows, dim, values, null, null, norms, null);
  }

  /** Quantized rows as stored (e.g. read from a codes table or a request batch). */
  public static EncodedRows quantized(Precision p, int rows, int dim, byte[] codes, float[] scales,
      float[] norms) {
    if (p == Precision.FP32) {
      throw new IllegalArgumentException("fp32 rows have values, not codes");
    }
    if (codes.length < (long) rows * p.rowBytes(dim) || scales.length < rows) {
      throw new IllegalArgumentException("codes/scales too short for " + rows + " " + p + " rows of dim " + dim);
    }
    return new EncodedRows(p, rows, dim, null, codes, scales, norms, null);
  }

  /** Encodes fp32 rows at {@code target} precision (fp32: as they are). */
  public static EncodedRows encode(Precision target, int rows, int dim, float[] values) {
    return encode(target, rows, dim, values, null);
  }

  /**
   * Encodes rows to be scored by a kernel built for {@code scales}: quantized encodings hold the
   * codes of {@code x/e} (the norms stay those of x); fp32 stays as it is. Null scales: plain.
   */
  public static EncodedRows encode(Precision target, int rows, int dim, float[] values, DimensionScales scales) {
    if (target == Precision.FP32 || scales == null) {
      return target == Precision.FP32 ? fp32(rows, dim, values) : quantize(target, rows, dim, values, values);
    }
    DimensionScales.checkDim(scales, dim);
    return quantize(target, rows, dim, scales.divide(values, rows), values);
  }

  /**
   * Encodes parameter rows (weights, centroids, references) for a kernel whose input rows are
   * divided by {@code scales}: quantized encodings hold the codes of {@code y∘e}, so that
   * {@code (x/e)·(y∘e) = x·y}; the norms stay those of y; fp32 stays as it is.
   */
  public static EncodedRows encodeFolded(Precision target, int rows, int dim, float[] values, DimensionScales scales) {
    if (target == Precision.FP32 || scales == null) {
      return encode(target, rows, dim, values);
    }
    DimensionScales.checkDim(scales, dim);
    return quantize(target, rows, dim, scales.fold(values, rows), values);
  }

  /** Quantizes {@code toQuantize}; the norms are those of {@code original} (the same rows before any scaling). */
  private static EncodedRows quantize(Precision target, int rows, int dim, float[] toQuantize, float[] original) {
    if (toQuantize.length < (long) rows * dim) {
      throw new IllegalArgumentException("values holds " + toQuantize.length + " floats, need " + (long) rows * dim);
    }
    float[] values = toQuantize;
    int stride = target.rowBytes(dim);
    byte[] codes = new byte[rows * stride];
    float[] scales = new float[rows];
    float[] norms = new float[rows];
    dev.joule.bridge.vector.VectorOps ops = dev.joule.bridge.vector.VectorOpsProvider.get();
    for (int r = 0; r < rows; r++) {
      norms[r] = norm(original, r * dim, dim);
      switch (target) {
        case INT8:
          scales[r] = ops.quantizeI8(values, r * dim, dim, codes, r * stride);
          break;
        case INT4:
          scales[r] = Int4Quantizer.quantize(values, r * dim, dim, codes, r * stride);
          break;
        case BINARY:
          scales[r] = BinaryQuantizer.quantize(values, r * dim, dim, codes, r * stride);
          break;
        default:
          throw new AssertionError(target);
      }
    }
    return new EncodedRows(target, rows, dim, null, codes, scales, norms, null);
  }

  /** The same rows with a second, higher-precision encoding attached for rescoring. */
  public EncodedRows withRescore(EncodedRows other) {
    if (other.rows != rows || other.dim != dim) {
      throw new IllegalArgumentException("rescore rows must match: " + other.rows + "x" + other.dim);
    }
    return new EncodedRows(precision, rows, dim, values, codes, scales, norms, other);
  }

  /**
   * The L2 norm as a float: summed in double, so it is exact to float rounding for every finite
   * row, and {@code Infinity} only where the norm itself is beyond the float range (e.g. two
   * values of 3e38). A caller that stores it (quantize) rejects such a row.
   */
  static float norm(float[] v, int off, int dim) {
    return (float) normDouble(v, off, dim);
  }

  /** The L2 norm of {@code v[off, off+dim)} in double (a finite row's never overflows). */
  public static double normDouble(float[] v, int off, int dim) {
    double s = 0;
    for (int i = 0; i < dim; i++) {
      s += (double) v[off + i] * v[off + i];
    }
    return Math.sqrt(s);
  }

  public Precision precision() {
    return precision;
  }

  public int rows() {
    return rows;
  }

  public int dim() {
    return dim;
  }

  /** Bytes per row in {@link #codes()} (quantized rows only). */
  public int stride() {
    return precision.rowBytes(dim);
  }

  public float[] values() {
    return values;
  }

  public byte[] codes() {
    return codes;
  }

  public float[] scales() {
    return scales;
  }

  public float[] norms() {
    return norms;
  }

  /** A second encoding of the same rows, or null. */
  public EncodedRows rescore() {
    return rescore;
  }

  /** Bytes of payload: values, or codes + scale + norm per row (+ the rescore encoding). */
  public long payloadBytes() {
    long own = precision == Precision.FP32
        ? (long) rows * dim * 4 + 4L * rows
        : (long) rows * stride() + 8L * rows;
    return own + (rescore == null ? 0 : rescore.payloadBytes());
  }
}
