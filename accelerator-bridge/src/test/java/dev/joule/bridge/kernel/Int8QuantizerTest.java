package dev.joule.bridge.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Int8QuantizerTest {

  @Test
  void roundTripErrorIsAtMostHalfAStep() {
    SplittableRandom rnd = new SplittableRandom(42);
    for (int trial = 0; trial < 2000; trial++) {
      int dim = 1 + rnd.nextInt(1024);
      float[] x = new float[dim];
      double spread = Math.exp(rnd.nextDouble(-8, 8));
      for (int i = 0; i < dim; i++) {
        x[i] = (float) (rnd.nextGaussian() * spread);
      }
      byte[] q = new byte[dim];
      float s = Int8Quantizer.quantize(x, 0, dim, q, 0);
      float[] back = new float[dim];
      Int8Quantizer.dequantize(q, 0, dim, s, back, 0);
      float amax = 0;
      for (float v : x) {
        amax = Math.max(amax, Math.abs(v));
      }
      assertEquals(amax / 127f, s, amax * 1e-6f);
      for (int i = 0; i < dim; i++) {
        assertTrue(q[i] >= -127 && q[i] <= 127);
        assertTrue(Math.abs(back[i] - x[i]) <= s * 0.5f * (1 + 1e-5f) + 1e-30f,
            "value " + x[i] + " came back as " + back[i] + " with scale " + s);
      }
    }
  }

  @Test
  void zerosGiveZeroScaleAndCodes() {
    float[] x = new float[17];
    byte[] q = new byte[17];
    q[3] = 9;
    assertEquals(0f, Int8Quantizer.quantize(x, 0, 17, q, 0));
    for (byte b : q) {
      assertEquals(0, b);
    }
  }

  @Test
  void largestMagnitudeMapsToPlusOrMinus127() {
    float[] x = {-3f, 1f, 3f, 0f};
    byte[] q = new byte[4];
    Int8Quantizer.quantize(x, 0, 4, q, 0);
    assertEquals(-127, q[0]);
    assertEquals(127, q[2]);
    assertEquals(42, q[1]); // round(127/3)
    assertEquals(0, q[3]);
  }
}
