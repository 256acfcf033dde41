package dev.joule.bridge.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Int4QuantizerTest {

  static double error(float[] x, byte[] packed, float s) {
    double e = 0;
    for (int i = 0; i < x.length; i++) {
      double d = x[i] - s * Int4Quantizer.code(packed, 0, x.length, i);
      e += d * d;
    }
    return e;
  }

  @Test
  void fittedScaleNeverLosesToTheMaxAbsScaleAndIsTheLeastSquaresScaleOfItsCodes() {
    SplittableRandom rnd = new SplittableRandom(4);
    int better = 0;
    for (int trial = 0; trial < 2000; trial++) {
      int dim = 1 + rnd.nextInt(1536);
      float[] x = new float[dim];
      double spread = Math.exp(rnd.nextDouble(-8, 8));
      boolean heavyTail = rnd.nextBoolean();
      for (int i = 0; i < dim; i++) {
        double g = rnd.nextGaussian();
        x[i] = (float) ((heavyTail ? g * g * g : g) * spread);
      }
      byte[] q = new byte[(dim + 1) / 2];
      float s = Int4Quantizer.quantize(x, 0, dim, q, 0);
      double xq = 0;
      double qq = 0;
      double sumSq = 0;
      for (int i = 0; i < dim; i++) {
        int c = Int4Quantizer.code(q, 0, dim, i);
        assertTrue(c >= -7 && c <= 7, "code " + c);
        xq += (double) x[i] * c;
        sumSq += (double) x[i] * x[i];
        qq += c * c;
      }
      assertEquals(xq / qq, s, Math.abs(s) * 1e-5, "scale is not x·q / q·q at dim " + dim);
      double fitted = error(x, q, s);
      double maxAbs = Int4Quantizer.maxAbsScaleError(x, 0, dim);
      // Up to the float rounding of the scale (max-abs is exact on e.g. a single value).
      assertTrue(fitted <= maxAbs + 1e-6 * sumSq,
          "dim " + dim + ": fitted error " + fitted + " > max-abs error " + maxAbs);
      better += fitted < maxAbs * 0.99 ? 1 : 0;
    }
    assertTrue(better > 1000, "the fitted scale beat max-abs by 1 % on only " + better + " of 2000 rows");
  }

  @Test
  void widenedCodesAreTheCodesOfEveryDimension() {
    // Column-channel heads dot their int4 weights widened to a byte each (ScaledWeights.widen).
    SplittableRandom rnd = new SplittableRandom(8);
    for (int dim : new int[] {1, 2, 7, 16, 63, 384}) {
      int rows = 5;
      float[] w = new float[rows * dim];
      for (int i = 0; i < w.length; i++) {
        w[i] = (float) rnd.nextGaussian();
      }
      EncodedRows q = EncodedRows.encode(Precision.INT4, rows, dim, w);
      byte[] wide = ScaledWeights.widen(q);
      for (int j = 0; j < rows; j++) {
        for (int c = 0; c < dim; c++) {
          assertEquals(Int4Quantizer.code(q.codes(), j * q.stride(), dim, c), wide[j * dim + c], "dim " + dim + " [" + j + "][" + c + "]");
        }
      }
    }
  }

  @Test
  void extremesAndPacking() {
    byte[] q = new byte[3];
    assertEquals(0f, Int4Quantizer.quantize(new float[5], 0, 5, q, 0));
    assertEquals(0, q[0] | q[1] | q[2]);

    float[] same = {2f, 2f, 2f, 2f, 2f};
    float s = Int4Quantizer.quantize(same, 0, 5, q, 0);
    assertEquals(0.0, error(same, q, s), 1e-9);

    // Odd dim: byte b holds dims b (low nibble) and b + 3 (high); the last high nibble is 0.
    float[] x = {7f, -7f, 1f, -1f, 0f};
    s = Int4Quantizer.quantize(x, 0, 5, q, 0);
    assertEquals(1f, s, 1e-6);
    int[] expected = {7, -7, 1, -1, 0};
    for (int i = 0; i < 5; i++) {
      assertEquals(expected[i], Int4Quantizer.code(q, 0, 5, i));
    }
    assertEquals(0, q[2] >> 4);

    float[] one = {-3.5f};
    byte[] b = new byte[1];
    s = Int4Quantizer.quantize(one, 0, 1, b, 0);
    assertEquals(-3.5f, s * Int4Quantizer.code(b, 0, 1, 0), 1e-6);
  }
}
