package dev.joule.udfs;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;

/**
 * Which rows the quality gate compares with fp32, decided row by row where the rows are read:
 * a row is in the sample when the 64-bit hash of its id falls in the lowest {@code fraction} of
 * the hash range. The same ids are picked on every run and every machine, with no sort, no
 * shuffle and no second read of the input.
 *
 * @param threshold unsigned: a row is in when {@code hash(id) <u threshold}; 0 picks no row
 */
public record GateSample(long threshold) implements Serializable {

  public static final GateSample NONE = new GateSample(0);

  /**
   * About {@code rows * margin} rows out of {@code rows} (all of them when that is more): the
   * count of a hash sample varies, so a margin above 1 leaves the gate {@code wanted} rows to take.
   */
  public static GateSample of(long rows, int wanted, double margin) {
    if (wanted <= 0 || rows <= 0) {
      return NONE;
    }
    double fraction = wanted * margin / rows;
    if (fraction >= 1) {
      return new GateSample(-1L); // every hash is <u 0xFFFF_FFFF_FFFF_FFFF but that one
    }
    // fraction of 2^64, as an unsigned long
    return new GateSample((long) (fraction * 0x1p63) << 1);
  }

  public boolean isEmpty() {
    return threshold == 0;
  }

  public boolean includes(Object id) {
    return id != null && threshold != 0 && Long.compareUnsigned(hash(id), threshold) < 0;
  }

  /** A stable 64-bit hash of an id as {@link IdColumn#read} returns it (String, Long or Integer). */
  public static long hash(Object id) {
    if (id instanceof Long l) {
      return mix(l);
    }
    if (id instanceof Integer i) {
      return mix(i.longValue());
    }
    // FNV-1a over the UTF-8 bytes, then mixed: the same on every JVM, unlike String.hashCode's spread.
    long h = 0xcbf29ce484222325L;
    for (byte b : id.toString().getBytes(StandardCharsets.UTF_8)) {
      h = (h ^ (b & 0xff)) * 0x100000001b3L;
    }
    return mix(h);
  }

  /** SplitMix64's step: every input bit reaches every output bit, and 0 does not map to 0. */
  private static long mix(long x) {
    long z = x + 0x9e3779b97f4a7c15L;
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }
}
