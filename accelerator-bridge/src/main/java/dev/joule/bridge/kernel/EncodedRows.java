package dev.joule.bridge.kernel;

/**
 * A batch of rows as a kernel reads them: fp32 values, or int8 codes with one scale per row.
 * Row-major, {@code rows * dim} values. Arrays may be longer than needed so callers can reuse them.
 */
public final class EncodedRows {
  private final Precision precision;
  private final int rows;
  private final int dim;
  private final float[] values;
  private final byte[] codes;
  private final float[] scales;

  private EncodedRows(Precision precision, int rows, int dim, float[] values, byte[] codes,
      float[] scales) {
    this.precision = precision;
    this.rows = rows;
    this.dim = dim;
    this.values = values;
    this.codes = codes;
    this.scales = scales;
  }

  public static EncodedRows fp32(int rows, int dim, float[] values) {
    if (values.length < (long) rows * dim) {
      throw new IllegalArgumentException("values holds " + values.length + " floats, need " + rows * dim);
    }
    return new EncodedRows(Precision.FP32, rows, dim, values, null, null);
  }

  public static EncodedRows int8(int rows, int dim, byte[] codes, float[] scales) {
    if (codes.length < (long) rows * dim || scales.length < rows) {
      throw new IllegalArgumentException("codes/scales too short for " + rows + " rows of " + dim);
    }
    return new EncodedRows(Precision.INT8, rows, dim, null, codes, scales);
  }

  /** Quantizes fp32 rows into {@code target}'s precision (identity for fp32). */
  public static EncodedRows encode(Precision target, int rows, int dim, float[] values) {
    switch (target) {
      case FP32:
        return fp32(rows, dim, values);
      case INT8:
        byte[] codes = new byte[rows * dim];
        float[] scales = new float[rows];
        for (int r = 0; r < rows; r++) {
          scales[r] = Int8Quantizer.quantize(values, r * dim, dim, codes, r * dim);
        }
        return int8(rows, dim, codes, scales);
      default:
        throw new AssertionError(target);
    }
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

  public float[] values() {
    return values;
  }

  public byte[] codes() {
    return codes;
  }

  public float[] scales() {
    return scales;
  }

  /** Bytes this batch's payload occupies (values or codes + scales). */
  public long payloadBytes() {
    return precision == Precision.FP32
        ? 4L * rows * dim
        : (long) rows * dim + 4L * rows;
  }
}
