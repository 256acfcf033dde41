package dev.joule.bridge.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Rows anywhere in the float range, near its limit (1e38, ±3e38) and near its bottom included:
 * the encoding's norm is the exact L2 norm rounded to float (Infinity only where the exact norm
 * is beyond the float range), its scale is finite, and its codes come back within the
 * quantizer's error bound. The reference is computed independently: the norm in BigDecimal, the
 * int8 bound from max|x|, the int4 bound from the max-abs scale (the fitted scale never does
 * worse), binary's scale as the mean |x| in BigDecimal.
 */
class EncodedRowsRangeTest {

  static final MathContext MC = MathContext.DECIMAL128;
  static final BigDecimal FLOAT_MAX = new BigDecimal(Float.MAX_VALUE);

  @Test
  void normsAndScalesHoldAcrossTheWholeFloatRange() {
    SplittableRandom rnd = new SplittableRandom(23);
    int overflowing = 0;
    for (int trial = 0; trial < 3000; trial++) {
      int dim = 1 + rnd.nextInt(trial % 10 == 0 ? 400 : 40);
      float[] x = row(rnd, dim, trial);
      BigDecimal exact = exactNorm(x);
      for (Precision p : Precision.values()) {
        EncodedRows e = EncodedRows.encode(p, 1, dim, x);
        float norm = e.norms()[0];
        String what = p + " row " + trial + " (dim " + dim + ", max|x| " + maxAbs(x) + ")";
        // The exact norm rounded to float: Infinity exactly where it is beyond the float range.
        float expected = exact.floatValue();
        assertEquals(expected, norm, Math.ulp(expected), "norm of " + what);
        assertEquals(Float.isInfinite(expected), Float.isInfinite(norm), "norm of " + what);
        if (p == Precision.FP32) {
          if (Float.isInfinite(norm)) {
            overflowing++;
          }
          continue;
        }
        float s = e.scales()[0];
        assertTrue(Float.isFinite(s) && s >= 0, "scale " + s + " of " + what);
        checkCodes(p, x, e, what);
      }
    }
    assertTrue(overflowing > 50, "the rows near the float limit include norms beyond it: " + overflowing);
  }

  @Test
  void rowsNearTheFloatLimit() {
    float[][] rows = {
        {1e38f, 1e38f, 1e38f, 1e38f},
        {3e38f, -3e38f},
        {Float.MAX_VALUE},
        {-Float.MAX_VALUE, 0, 0, 1},
        {3e38f, 1e38f, -2e38f, 5e37f, 1f, -1f, 0f},
    };
    for (float[] x : rows) {
      for (Precision p : new Precision[] {Precision.INT8, Precision.INT4, Precision.BINARY}) {
        EncodedRows e = EncodedRows.encode(p, 1, x.length, x);
        assertTrue(Float.isFinite(e.scales()[0]), p + " scale " + e.scales()[0] + " of " + java.util.Arrays.toString(x));
        checkCodes(p, x, e, p + " " + java.util.Arrays.toString(x));
      }
    }
    // One value at the limit has a representable norm; two of 3e38 do not.
    assertEquals(Float.MAX_VALUE, EncodedRows.encode(Precision.INT8, 1, 1, new float[] {Float.MAX_VALUE}).norms()[0]);
    assertEquals(Float.POSITIVE_INFINITY, EncodedRows.encode(Precision.INT8, 1, 2, new float[] {3e38f, -3e38f}).norms()[0]);
    assertEquals(4.242641e38, EncodedRows.normDouble(new float[] {3e38f, -3e38f}, 0, 2), 1e33);
  }

  /** Dequantized codes against the row, within each quantizer's bound. */
  static void checkCodes(Precision p, float[] x, EncodedRows e, String what) {
    int dim = x.length;
    float s = e.scales()[0];
    byte[] codes = e.codes();
    float amax = maxAbs(x);
    switch (p) {
      case INT8 -> {
        assertEquals(amax / Int8Quantizer.QMAX, s, "int8 scale is max|x|/127: " + what);
        // Half a step, plus what a subnormal scale loses to rounding.
        double bound = s * 0.5 * (1 + 1e-5) + 127.0 * Float.MIN_VALUE;
        for (int i = 0; i < dim; i++) {
          double back = (double) codes[i] * s;
          assertTrue(Math.abs(back - x[i]) <= bound, "int8 x[" + i + "] " + x[i] + " came back as " + back + ": " + what);
        }
      }
      case INT4 -> {
        double err = 0;
        for (int i = 0; i < dim; i++) {
          double d = x[i] - (double) Int4Quantizer.code(codes, 0, dim, i) * s;
          err += d * d;
        }
        double maxAbsErr = maxAbsScaleError(x);
        assertTrue(err <= maxAbsErr * (1 + 1e-4) + 1e-6 * sumSq(x) + 7.0 * Float.MIN_VALUE * dim,
            "int4 error " + err + " above the max-abs scale's " + maxAbsErr + ": " + what);
      }
      case BINARY -> {
        BigDecimal sum = BigDecimal.ZERO;
        for (float v : x) {
          sum = sum.add(new BigDecimal(Math.abs(v)));
        }
        float mean = sum.divide(BigDecimal.valueOf(dim), MC).floatValue();
        assertEquals(mean, s, Math.ulp(mean), "binary scale is mean |x|: " + what);
        for (int i = 0; i < dim; i++) {
          assertEquals(x[i] > 0, BinaryQuantizer.bit(codes, 0, i), "bit " + i + ": " + what);
        }
      }
      default -> throw new AssertionError(p);
    }
  }

  /** {@code ‖x − s·q‖²} with {@code s = max|x|/7} in double (the reference the fitted scale must meet). */
  static double maxAbsScaleError(float[] x) {
    double amax = maxAbs(x);
    double step = amax / Int4Quantizer.QMAX;
    double e = 0;
    for (float v : x) {
      double q = step == 0 ? 0 : Math.max(-7, Math.min(7, Math.rint(v / step)));
      double d = v - q * step;
      e += d * d;
    }
    return e;
  }

  static double sumSq(float[] x) {
    double s = 0;
    for (float v : x) {
      s += (double) v * v;
    }
    return s;
  }

  /** A row at one of many magnitudes: near the top of the float range, the bottom, or anywhere between. */
  static float[] row(SplittableRandom rnd, int dim, int trial) {
    float[] x = new float[dim];
    double scale = switch (trial % 5) {
      case 0 -> 3e38; // at the limit: many norms overflow
      case 1 -> 1e38;
      case 2 -> Math.pow(2, rnd.nextInt(-120, 120));
      case 3 -> 1e-37; // 1/s overflows float for int8
      default -> Math.pow(10, rnd.nextDouble(-30, 38));
    };
    for (int i = 0; i < dim; i++) {
      double v = rnd.nextDouble(-1, 1) * scale;
      if (rnd.nextInt(8) == 0) {
        v = 0;
      }
      x[i] = (float) Math.max(-Float.MAX_VALUE, Math.min(Float.MAX_VALUE, v));
    }
    return x;
  }

  static BigDecimal exactNorm(float[] x) {
    BigDecimal s = BigDecimal.ZERO;
    for (float v : x) {
      BigDecimal b = new BigDecimal(v);
      s = s.add(b.multiply(b));
    }
    return s.sqrt(MC);
  }

  static float maxAbs(float[] x) {
    float m = 0;
    for (float v : x) {
      m = Math.max(m, Math.abs(v));
    }
    return m;
  }
}
