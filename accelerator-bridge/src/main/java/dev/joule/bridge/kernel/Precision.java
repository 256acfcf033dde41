package dev.joule.bridge.kernel;

import java.util.Locale;

/**
 * Numeric precision of rows and kernel parameters. Quantized rows carry one scale per row (and
 * the fp32 L2 norm, for cosine):
 * <ul>
 *   <li>{@code fp32}: the reference;
 *   <li>{@code int8}: symmetric, codes in [-127, 127], {@code x ≈ q·s};
 *   <li>{@code int4}: symmetric, codes in [-7, 7], two per byte, split-half packing (see {@link Int4Quantizer});
 *   <li>{@code binary}: one sign bit per dimension (bit set when x &gt; 0), packed into
 *       little-endian 64-bit words; {@code x ≈ s·(2b − 1)} with s the mean |x|.
 * </ul>
 */
public enum Precision {
  FP32("fp32"),
  INT8("int8"),
  INT4("int4"),
  BINARY("binary");

  private final String label;

  Precision(String label) {
    this.label = label;
  }

  /** The name used in configs, tables and kernel names, e.g. {@code int8}. */
  public String label() {
    return label;
  }

  /** Bytes one row of {@code dim} values occupies (codes or floats; no scale or norm). */
  public int rowBytes(int dim) {
    switch (this) {
      case FP32:
        return 4 * dim;
      case INT8:
        return dim;
      case INT4:
        return (dim + 1) / 2;
      case BINARY:
        return 8 * words(dim);
      default:
        throw new AssertionError(this);
    }
  }

  /** 64-bit words of a binary row. */
  public static int words(int dim) {
    return (dim + 63) / 64;
  }

  public boolean quantized() {
    return this != FP32;
  }

  public static Precision parse(String s) {
    for (Precision p : values()) {
      if (p.label.equals(s.toLowerCase(Locale.ROOT))) {
        return p;
      }
    }
    throw new IllegalArgumentException("unknown precision '" + s + "' (supported: fp32, int8, int4, binary)");
  }

  @Override
  public String toString() {
    return label;
  }
}
