package dev.joule.bridge.kernel;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;

/**
 * One positive scale per input dimension, {@code e_c}, taken from the data (the largest |x_c|
 * of the rows): rows are quantized as {@code x/e}, and every parameter a row is dotted with is
 * folded with {@code e} ({@code W∘e}, centroids and references {@code ∘e}), so
 * {@code (x/e)·(w∘e) = x·w} and the kernels' integer dots are unchanged.
 *
 * <p>Why: one scale per row gives every dimension the same step, set by the row's largest value.
 * Real embeddings have dimensions on very different scales; all-MiniLM-L6-v2 has two that hold
 * values near 1e-33 and one near 1e-8 on every text. A model trained with standardized features
 * (MLlib's default) puts weights near 1e32 on them, so they carry about one logit each, and a
 * per-row int8 scale rounds them to 0: top-1 agreement with fp32 fell to 0.86 on the Debian
 * descriptions. Divided by their own scale first, every dimension uses the full code range
 * (0.996). The scales depend on the data only, so a codes table stays usable by any model.
 *
 * <p>They apply to quantized encodings only: fp32 rows and fp32 parameters (an fp32 kernel, an
 * fp32 rescoring reference) are never divided or folded, so their values and norms stay the
 * originals.
 */
public final class DimensionScales implements java.io.Serializable {

  private static final long serialVersionUID = 1L;

  private final float[] scales;

  private DimensionScales(float[] scales) {
    for (int c = 0; c < scales.length; c++) {
      if (!(scales[c] > 0) || Float.isInfinite(scales[c])) {
        throw new IllegalArgumentException("dimension scale " + c + " is " + scales[c] + ", not a finite positive number");
      }
    }
    this.scales = scales;
  }

  /** From the largest |x_c| of the rows; a dimension that is 0 on every row gets 1. */
  public static DimensionScales ofMaxAbs(float[] maxAbs) {
    float[] e = new float[maxAbs.length];
    for (int c = 0; c < e.length; c++) {
      float m = Math.abs(maxAbs[c]);
      if (!Float.isFinite(m)) {
        throw new IllegalArgumentException("max |x| of dimension " + c + " is " + maxAbs[c]);
      }
      e[c] = m > 0 ? m : 1f;
    }
    return new DimensionScales(e);
  }

  /** Raises {@code maxAbs[c]} to |x_c| for each finite value of a row (the accumulation of {@link #ofMaxAbs}). */
  public static void accumulateMaxAbs(float[] row, int off, float[] maxAbs) {
    for (int c = 0; c < maxAbs.length; c++) {
      float a = Math.abs(row[off + c]);
      if (a > maxAbs[c] && Float.isFinite(a)) {
        maxAbs[c] = a;
      }
    }
  }

  public int dim() {
    return scales.length;
  }

  /** A copy of the scales. */
  public float[] values() {
    return scales.clone();
  }

  /** {@code rows} rows of {@code values} divided by the scales, dimension by dimension (a new array). */
  public float[] divide(float[] values, int rows) {
    check(values, rows);
    int dim = scales.length;
    float[] out = new float[rows * dim];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < dim; c++) {
        out[r * dim + c] = values[r * dim + c] / scales[c];
      }
    }
    return out;
  }

  /** {@code rows} rows of {@code values} times the scales (a new array): parameters folded. */
  public float[] fold(float[] values, int rows) {
    check(values, rows);
    int dim = scales.length;
    float[] out = new float[rows * dim];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < dim; c++) {
        out[r * dim + c] = values[r * dim + c] * scales[c];
      }
    }
    return out;
  }

  private void check(float[] values, int rows) {
    if (values.length < (long) rows * scales.length) {
      throw new IllegalArgumentException("values hold " + values.length + " floats, not " + rows + " rows of dim " + scales.length);
    }
  }

  /** Base64 of the scales as float32 little-endian: how a codes table records them. */
  public String encoded() {
    ByteBuffer b = ByteBuffer.allocate(4 * scales.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float s : scales) {
      b.putFloat(s);
    }
    return Base64.getEncoder().encodeToString(b.array());
  }

  /** The inverse of {@link #encoded()}, of whatever dim it holds. */
  public static DimensionScales parse(String encoded) {
    return parse(encoded, -1);
  }

  /** The inverse of {@link #encoded()}; {@code dim} is checked (-1: any). */
  public static DimensionScales parse(String encoded, int dim) {
    byte[] bytes;
    try {
      bytes = Base64.getDecoder().decode(encoded.trim());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("dimension scales are not base64: " + e.getMessage());
    }
    if (bytes.length == 0 || bytes.length % 4 != 0 || (dim >= 0 && bytes.length != 4 * dim)) {
      throw new IllegalArgumentException("dimension scales hold " + bytes.length + " bytes, not " + (dim >= 0 ? dim : "a positive number of") + " float32s"
          + (dim >= 0 ? " for rows of dim " + dim : ""));
    }
    float[] e = new float[bytes.length / 4];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(e);
    return new DimensionScales(e);
  }

  /** A short content hash, for logs and run records. */
  public String id() {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(Base64.getDecoder().decode(encoded()));
      return HexFormat.of().formatHex(d, 0, 6);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The ratio of the largest scale to the smallest: how unequal the dimensions are. */
  public double spread() {
    float lo = Float.MAX_VALUE;
    float hi = 0;
    for (float s : scales) {
      lo = Math.min(lo, s);
      hi = Math.max(hi, s);
    }
    return hi / (double) lo;
  }

  static final String PAYLOAD_NAME = "rows.dimension-scales";

  /** Writes the scales into a kernel payload (nothing for null: kernels without them keep their ids). */
  static void write(KernelPayload p, DimensionScales e) {
    if (e != null) {
      p.floats(PAYLOAD_NAME, e.scales);
    }
  }

  /** The scales a payload carries, or null. */
  static DimensionScales read(KernelPayload p) {
    return p.has(PAYLOAD_NAME) ? new DimensionScales(p.floats(PAYLOAD_NAME)) : null;
  }

  /** Checks that a kernel of {@code dim} can take rows divided by {@code e}. */
  static void checkDim(DimensionScales e, int dim) {
    if (e != null && e.dim() != dim) {
      throw new IllegalArgumentException("dimension scales have dim " + e.dim() + ", the kernel " + dim);
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof DimensionScales d && Arrays.equals(scales, d.scales);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(scales);
  }

  @Override
  public String toString() {
    return "dimension scales " + id() + " (dim " + scales.length + ", spread " + String.format(java.util.Locale.ROOT, "%.3g", spread()) + ")";
  }
}
