package dev.joule.bridge.kernel;

import java.util.Locale;

/** Numeric precision of a kernel's parameters and of the rows it reads. */
public enum Precision {
  FP32("fp32", 32),
  INT8("int8", 8);

  private final String label;
  private final int bitsPerValue;

  Precision(String label, int bitsPerValue) {
    this.label = label;
    this.bitsPerValue = bitsPerValue;
  }

  /** The name used in configs, tables and kernel names, e.g. {@code int8}. */
  public String label() {
    return label;
  }

  public int bitsPerValue() {
    return bitsPerValue;
  }

  /** Bytes one row of {@code dim} values occupies in a request batch (codes only, no scale). */
  public long rowBytes(int dim) {
    return ((long) dim * bitsPerValue + 7) / 8;
  }

  public static Precision parse(String s) {
    for (Precision p : values()) {
      if (p.label.equals(s.toLowerCase(Locale.ROOT))) {
        return p;
      }
    }
    throw new IllegalArgumentException(
        "unknown precision '" + s + "' (supported: fp32, int8; int4 and binary are not built yet)");
  }

  @Override
  public String toString() {
    return label;
  }
}
