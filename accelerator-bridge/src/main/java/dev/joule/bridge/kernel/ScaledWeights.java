package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.VectorOps;

/**
 * A weight matrix W[outputs][dim] quantized under one {@link WeightScaling}: the codes with one
 * scale per output row (an {@link EncodedRows}, as before), plus, for column-channel, one fp32
 * scale per input column. Knows how to dot itself with a batch row; the kernels around it decide
 * what to do with the dot.
 */
public final class ScaledWeights {

  private final WeightScaling scaling;
  private final Precision precision; // the kernel's: the codes' (the rows' for unquantized weights)
  private final EncodedRows rows;
  private final float[] columns; // t_c, column-channel only
  private final float[] fp32Columns; // t_c / e_c for undivided fp32 rows when rows are divided by e; else t
  private final byte[] widened; // int4 column-channel codes one per byte (outputs × dim), or null

  ScaledWeights(WeightScaling scaling, EncodedRows rows, float[] columns) {
    this(scaling, rows, columns, null);
  }

  private ScaledWeights(WeightScaling scaling, EncodedRows rows, float[] columns, DimensionScales rowScales) {
    if (scaling == WeightScaling.UNQUANTIZED && rows.precision() != Precision.FP32) {
      throw new IllegalArgumentException("unquantized weights are fp32, not " + rows.precision());
    }
    if (scaling == WeightScaling.UNQUANTIZED && columns != null) {
      throw new IllegalArgumentException("unquantized weights have no column scales");
    }
    if (scaling == WeightScaling.COLUMN_CHANNEL) {
      if (rows.precision() != Precision.INT8 && rows.precision() != Precision.INT4) {
        throw new IllegalArgumentException("column-channel scaling needs int8 or int4 weights, not " + rows.precision());
      }
      if (columns == null || columns.length != rows.dim()) {
        throw new IllegalArgumentException("column-channel weights need " + rows.dim() + " column scales, got "
            + (columns == null ? "none" : columns.length));
      }
      for (float t : columns) {
        if (!(t >= 0) || Float.isInfinite(t)) {
          throw new IllegalArgumentException("column scale " + t + " is not a finite non-negative number");
        }
      }
    } else if (columns != null && scaling == WeightScaling.PER_CHANNEL) {
      throw new IllegalArgumentException("per-channel weights have no column scales");
    }
    this.scaling = scaling;
    this.precision = scaling == WeightScaling.UNQUANTIZED ? Precision.INT8 : rows.precision();
    this.rows = rows;
    this.columns = columns;
    if (columns != null && rowScales != null) {
      // Quantized rows arrive divided by e (a codes table); fp32 rows never are, so the weights'
      // folded e is taken out of their column scales instead.
      float[] e = rowScales.values();
      this.fp32Columns = new float[columns.length];
      for (int c = 0; c < columns.length; c++) {
        fp32Columns[c] = columns[c] / e[c];
      }
    } else {
      this.fp32Columns = columns;
    }
    // A head's int4 codes are read again for every row: widened once to a byte each, the dots
    // take the int8 path (dotF32I8) instead of splitting nibbles per class and row. The kernel
    // still ships as int4; the ops/bytes model charges the widened bytes (bytesReadPerRow).
    this.widened = scaling == WeightScaling.COLUMN_CHANNEL && rows.precision() == Precision.INT4 ? widen(rows) : null;
  }

  /** Int4 rows unpacked to one signed code per byte, row-major (outputs × dim). */
  static byte[] widen(EncodedRows rows) {
    int dim = rows.dim();
    byte[] out = new byte[rows.rows() * dim];
    for (int j = 0; j < rows.rows(); j++) {
      unpackInt4(rows.codes(), j * rows.stride(), dim, out, j * dim);
    }
    return out;
  }

  /** One packed int4 row ({@link Int4Quantizer}'s split-half layout) to {@code dim} signed bytes. */
  static void unpackInt4(byte[] packed, int off, int dim, byte[] out, int outOff) {
    int half = (dim + 1) / 2;
    for (int b = 0; b < half; b++) {
      byte p = packed[off + b];
      out[outOff + b] = (byte) ((byte) (p << 4) >> 4);
      if (b + half < dim) {
        out[outOff + b + half] = (byte) (p >> 4);
      }
    }
  }

  /** These weights, folded with {@code rowScales} by the caller, made to take undivided fp32 rows too. */
  ScaledWeights forRowScales(DimensionScales rowScales) {
    return rowScales == null ? this : new ScaledWeights(scaling, rows, columns, rowScales);
  }

  /** Quantizes row-major {@code w} ({@code outputs × dim}) at {@code p} under {@code scaling}. */
  public static ScaledWeights quantize(WeightScaling scaling, Precision p, int outputs, int dim, float[] w) {
    if (scaling == WeightScaling.UNQUANTIZED && p != Precision.FP32) {
      if (p != Precision.INT8) {
        throw new IllegalArgumentException("unquantized weights serve int8 kernels, not " + p);
      }
      return new ScaledWeights(scaling, EncodedRows.fp32(outputs, dim, java.util.Arrays.copyOf(w, outputs * dim)), null);
    }
    if (scaling != WeightScaling.COLUMN_CHANNEL || p == Precision.FP32) {
      return new ScaledWeights(WeightScaling.PER_CHANNEL, EncodedRows.encode(p, outputs, dim, w), null);
    }
    float[] t = columnMax(w, outputs, dim);
    float[] unit = new float[outputs * dim]; // every column divided by its max |w|: values in [-1, 1]
    for (int j = 0; j < outputs; j++) {
      for (int c = 0; c < dim; c++) {
        unit[j * dim + c] = t[c] == 0f ? 0f : w[j * dim + c] / t[c];
      }
    }
    return new ScaledWeights(scaling, EncodedRows.encode(p, outputs, dim, unit), t);
  }

  /** max_j |w_jc| per column c. */
  static float[] columnMax(float[] w, int outputs, int dim) {
    float[] t = new float[dim];
    for (int j = 0; j < outputs; j++) {
      for (int c = 0; c < dim; c++) {
        t[c] = Math.max(t[c], Math.abs(w[j * dim + c]));
      }
    }
    return t;
  }

  public WeightScaling scaling() {
    return scaling;
  }

  /** Whether a kernel's dots with these weights are fp32 arithmetic (see {@link Kernel#fp32Arithmetic}). */
  public boolean fp32Arithmetic() {
    return precision == Precision.FP32 || scaling != WeightScaling.PER_CHANNEL;
  }

  /** The kernel's precision: the codes', or int8 for unquantized weights (the rows are int8). */
  public Precision precision() {
    return precision;
  }

  /** The codes with their per-row scales (for column-channel: of the column-divided rows). */
  public EncodedRows rows() {
    return rows;
  }

  /** The per-column scales t, or null (per-channel). A copy. */
  public float[] columnScales() {
    return columns == null ? null : columns.clone();
  }

  public int outputs() {
    return rows.rows();
  }

  public int dim() {
    return rows.dim();
  }

  /** The value weight {@code (j, c)} stands for after quantization. */
  public float dequantized(int j, int c) {
    int dim = rows.dim();
    float v;
    switch (rows.precision()) {
      case FP32:
        return rows.values()[j * dim + c];
      case INT8:
        v = rows.codes()[j * dim + c] * rows.scales()[j];
        break;
      case INT4:
        v = Int4Quantizer.code(rows.codes(), j * rows.stride(), dim, c) * rows.scales()[j];
        break;
      default:
        throw new AssertionError(rows.precision());
    }
    return columns == null ? v : v * columns[c];
  }

  /** Bytes of parameters: codes, row scales and norms, column scales. */
  public long payloadBytes() {
    return rows.payloadBytes() + (columns == null ? 0 : 4L * columns.length);
  }

  /** Bytes the dots read for each row scored: the payload's, with int4 codes widened to a byte each where they are. */
  public long bytesReadPerRow() {
    return widened == null ? payloadBytes() : payloadBytes() - rows.rows() * (long) rows.stride() + widened.length;
  }

  /**
   * Column-channel: fills {@code u[0, dim)} with row r of {@code in} times the column scales,
   * in fp32: the activation side of {@link #dotScaled}. fp32 rows are used as they are; int8 and
   * int4 rows (a codes table) are dequantized first.
   */
  public void scaleRow(EncodedRows in, int r, float[] u, VectorOps ops) {
    int dim = rows.dim();
    switch (in.precision()) {
      case FP32:
        ops.scaleF32(in.values(), r * dim, 1f, fp32Columns, u, dim);
        break;
      case INT8:
        ops.scaleI8(in.codes(), r * dim, in.scales()[r], columns, u, dim);
        break;
      case INT4:
        scaleInt4(in.codes(), r * in.stride(), dim, in.scales()[r], columns, u);
        break;
      default:
        throw new IllegalArgumentException("column-channel weights take fp32, int8 or int4 rows, not " + in.precision());
    }
  }

  /**
   * {@code out[c] = q_c·s·t[c]} for a packed int4 row (rows from an int4 codes table), both
   * nibbles of a byte at once: the int4 form of {@link VectorOps#scaleI8}.
   */
  static void scaleInt4(byte[] packed, int off, int dim, float s, float[] t, float[] out) {
    int half = (dim + 1) / 2;
    for (int b = 0; b < half; b++) {
      byte p = packed[off + b];
      out[b] = ((byte) (p << 4) >> 4) * s * t[b];
      if (b + half < dim) {
        out[b + half] = (p >> 4) * s * t[b + half];
      }
    }
  }

  /** Checks a batch for a column-channel kernel: fp32, int8 or int4 rows of its dim. */
  static void checkColumnScaledInput(String kernel, EncodedRows in, int dim) {
    if (in.precision() == Precision.BINARY) {
      throw new IllegalArgumentException("kernel " + kernel + " takes fp32, int8 or int4 rows, got a batch at binary");
    }
    if (in.dim() != dim) {
      throw new IllegalArgumentException("kernel " + kernel + " expects dim " + dim + ", got a batch of dim " + in.dim());
    }
  }

  /**
   * Unquantized: the dot of row r of {@code in} (int8 or int4 codes, divided by the kernel's
   * dimension scales if it has them) with fp32 weight row j: {@code s_r·Σ_c q_rc·w_jc}.
   */
  public float dotCodes(EncodedRows in, int r, int j, VectorOps ops) {
    int dim = rows.dim();
    return in.precision() == Precision.INT8
        ? ops.dotF32I8(rows.values(), j * dim, in.codes(), r * dim, dim) * in.scales()[r]
        : ops.dotF32I4(rows.values(), j * dim, in.codes(), r * in.stride(), dim) * in.scales()[r];
  }

  /** Checks a batch for unquantized weights: int8 or int4 codes of their dim. */
  static void checkCodesInput(String kernel, EncodedRows in, int dim) {
    if (in.precision() != Precision.INT8 && in.precision() != Precision.INT4) {
      throw new IllegalArgumentException("kernel " + kernel + " takes int8 or int4 rows, got a batch at " + in.precision());
    }
    if (in.dim() != dim) {
      throw new IllegalArgumentException("kernel " + kernel + " expects dim " + dim + ", got a batch of dim " + in.dim());
    }
  }

  /** Column-channel: {@code Σ_c u_c·s_j·q_jc}, i.e. the dot of the original row with weight row j. */
  public float dotScaled(float[] u, int j, VectorOps ops) {
    float sum = rows.precision() == Precision.INT8 ? ops.dotF32I8(u, 0, rows.codes(), j * rows.dim(), rows.dim())
        : widened != null ? ops.dotF32I8(u, 0, widened, j * rows.dim(), rows.dim())
        : ops.dotF32I4(u, 0, rows.codes(), j * rows.stride(), rows.dim());
    return sum * rows.scales()[j];
  }

  /** Writes the rows under {@code name} and, for column-channel, the column scales. */
  void write(KernelPayload p, String name) {
    p.rows(name, rows);
    if (columns != null) {
      p.floats(name + ".columns", columns);
    }
  }

  static ScaledWeights read(KernelPayload p, String name, WeightScaling scaling) {
    EncodedRows rows = p.rows(name);
    return new ScaledWeights(scaling, rows,
        scaling == WeightScaling.COLUMN_CHANNEL ? p.floats(name + ".columns") : null);
  }
}
