package dev.joule.bridge.vector;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Vector API implementation against the scalar reference, at dims that hit every tail. */
class VectorOpsTest {

  static VectorOps panama;
  static final VectorOps scalar = ScalarVectorOps.INSTANCE;

  @BeforeAll
  static void load() {
    panama = VectorOpsProvider.panamaOrNull();
    // The build runs tests with --add-modules=jdk.incubator.vector on AVX2/AVX-512 hardware; if
    // that ever changes this test must say so rather than silently compare scalar with scalar.
    assertNotNull(panama, "Vector API implementation did not load in the test JVM");
    // The build's second run of this class asks for 256-bit vectors (-XX:MaxVectorSize=32).
    String bits = System.getProperty("joule.test.vector-bits");
    if (bits != null) {
      assertEquals("panama-" + bits, panama.name(), "the vector width this run was started for");
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 383, 384, 768, 1023, 1024, 1536})
  void int8DotMatchesScalarOnRandomVectors(int dim) {
    SplittableRandom rnd = new SplittableRandom(dim * 7919L);
    for (int trial = 0; trial < 200; trial++) {
      int aOff = rnd.nextInt(5);
      int bOff = rnd.nextInt(5);
      byte[] a = new byte[dim + aOff];
      byte[] b = new byte[dim + bOff];
      for (int i = 0; i < a.length; i++) {
        a[i] = (byte) rnd.nextInt(-128, 128);
      }
      for (int i = 0; i < b.length; i++) {
        b[i] = (byte) rnd.nextInt(-128, 128);
      }
      assertEquals(scalar.dotI8(a, aOff, b, bOff, dim), panama.dotI8(a, aOff, b, bOff, dim),
          "dim " + dim + " trial " + trial);
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 383, 384, 768, 1023, 1536})
  void int8QuantizationIsTheOraclesBitForBit(int dim) {
    SplittableRandom rnd = new SplittableRandom(dim * 31L + 5);
    for (int trial = 0; trial < 300; trial++) {
      int off = rnd.nextInt(5);
      float[] x = new float[dim + off];
      int kind = trial % 6;
      for (int i = 0; i < x.length; i++) {
        x[i] = switch (kind) {
          // ties: with a largest |x| of 127 the step is 1, so k + 0.5 is exactly half-way
          case 0 -> i == off ? 127f : (float) (rnd.nextInt(-127, 127) + 0.5);
          case 1 -> i == off ? -127f : new float[] {0.49999997f, -0.49999997f, 0.5f, -0.5f, -2.5f, 2.5f, -0f,
              126.5f, -126.5f}[rnd.nextInt(9)];
          case 2 -> (float) (rnd.nextGaussian() * 1e-30); // tiny, still finite steps
          case 3 -> (float) (rnd.nextGaussian() * Math.exp(rnd.nextDouble(-20, 20)));
          case 4 -> rnd.nextInt(3) == 0 ? 0f : (float) rnd.nextGaussian();
          default -> (float) rnd.nextGaussian();
        };
      }
      byte[] expected = new byte[dim + off];
      byte[] actual = new byte[dim + off];
      float s = scalar.quantizeI8(x, off, dim, expected, off);
      float p = panama.quantizeI8(x, off, dim, actual, off);
      assertEquals(Float.floatToIntBits(s), Float.floatToIntBits(p), "scale, dim " + dim + " trial " + trial);
      assertArrayEquals(expected, actual, "codes, dim " + dim + " trial " + trial);
    }
  }

  @Test
  void int8QuantizationOfRowsTheOracleTakesApart() {
    float[][] rows = {new float[40], {Float.NaN, 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f, 10f, 11f, 12f, 13f, 14f, 15f, 16f},
        {Float.POSITIVE_INFINITY, 1f, -3f, 0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f, 10f, 11f, 12f, 13f},
        {1e-38f, -2e-38f, 0f, 1e-39f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 3e-38f}};
    for (float[] x : rows) {
      byte[] expected = new byte[x.length];
      byte[] actual = new byte[x.length];
      float s = scalar.quantizeI8(x, 0, x.length, expected, 0);
      float p = panama.quantizeI8(x, 0, x.length, actual, 0);
      assertEquals(Float.floatToIntBits(s), Float.floatToIntBits(p), Arrays.toString(x));
      assertArrayEquals(expected, actual, Arrays.toString(x));
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 15, 16, 17, 63, 64, 65, 383, 384, 768, 1023, 1024, 1536})
  void int8DotExtremeValues(int dim) {
    byte[][] cases = {fill(dim, -128), fill(dim, 127), fill(dim, 0), alternating(dim)};
    for (byte[] a : cases) {
      for (byte[] b : cases) {
        int expected = scalar.dotI8(a, 0, b, 0, dim);
        assertEquals(expected, panama.dotI8(a, 0, b, 0, dim));
      }
    }
    // -128 * -128 * dim is the largest magnitude an int8 dot can reach; no overflow at 1536.
    assertEquals(16384 * dim, panama.dotI8(fill(dim, -128), 0, fill(dim, -128), 0, dim));
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 15, 16, 17, 63, 64, 65, 383, 384, 768, 1023, 1024, 1536})
  void fp32DotMatchesScalarWithinRounding(int dim) {
    SplittableRandom rnd = new SplittableRandom(dim);
    for (int trial = 0; trial < 200; trial++) {
      float[] a = new float[dim];
      float[] b = new float[dim];
      double absSum = 0;
      double exact = 0;
      for (int i = 0; i < dim; i++) {
        a[i] = (float) rnd.nextGaussian();
        b[i] = (float) rnd.nextGaussian();
        absSum += Math.abs((double) a[i] * b[i]);
        exact += (double) a[i] * b[i];
      }
      // Summation order differs; both must stay within dim·ulp-scale error of the exact sum.
      double tol = 1e-6 * absSum * Math.max(1, Math.log(dim) + 1) + 1e-30;
      assertEquals(exact, scalar.dotF32(a, 0, b, 0, dim), tol * 4, "scalar dim " + dim);
      assertEquals(exact, panama.dotF32(a, 0, b, 0, dim), tol * 4, "panama dim " + dim);
    }
  }

  static final int[] DIMS = {1, 7, 15, 16, 17, 63, 64, 65, 383, 384, 768, 1023, 1024, 1536};

  @Test
  void int4PackedDotMatchesScalarOnRandomAndExtremeNibbles() {
    for (int dim : DIMS) {
      int n = (dim + 1) / 2;
      SplittableRandom rnd = new SplittableRandom(dim * 31L);
      for (int trial = 0; trial < 200; trial++) {
        int off = rnd.nextInt(4);
        byte[] a = new byte[n + off];
        byte[] b = new byte[n + off];
        rnd.nextBytes(a);
        rnd.nextBytes(b);
        assertEquals(scalar.dotI4Packed(a, off, b, off, n), panama.dotI4Packed(a, off, b, off, n),
            "dim " + dim + " trial " + trial);
      }
      // Nibble extremes: all -8 (0x88), all 7 (0x77), zeros, mixed.
      byte[][] cases = {fill(n, 0x88), fill(n, 0x77), fill(n, 0), fill(n, 0x78)};
      for (byte[] a : cases) {
        for (byte[] b : cases) {
          assertEquals(scalar.dotI4Packed(a, 0, b, 0, n), panama.dotI4Packed(a, 0, b, 0, n));
        }
      }
      assertEquals(2 * 64 * n, panama.dotI4Packed(fill(n, 0x88), 0, fill(n, 0x88), 0, n));
    }
  }

  @Test
  void int8ByInt4DotMatchesScalarAndTheUnpackedDefinition() {
    for (int dim : DIMS) {
      int half = (dim + 1) / 2;
      SplittableRandom rnd = new SplittableRandom(dim * 17L);
      for (int trial = 0; trial < 200; trial++) {
        byte[] q = new byte[dim + 3];
        byte[] p = new byte[half + 3];
        rnd.nextBytes(q);
        rnd.nextBytes(p);
        for (int i = 0; i < q.length; i++) {
          q[i] = (byte) Math.max(-127, q[i]);
        }
        if (dim % 2 == 1) {
          p[1 + half - 1] &= 0x0F; // the last high nibble is padding
        }
        int expected = 0;
        for (int i = 0; i < dim; i++) {
          expected += q[2 + i] * dev.joule.bridge.kernel.Int4Quantizer.code(p, 1, dim, i);
        }
        assertEquals(expected, scalar.dotI8I4(q, 2, p, 1, dim), "scalar dim " + dim);
        assertEquals(expected, panama.dotI8I4(q, 2, p, 1, dim), "panama dim " + dim);
      }
      byte[] q = fill(dim, 127);
      byte[] p = fill(half, 0x77);
      if (dim % 2 == 1) {
        p[half - 1] = 0x07;
      }
      assertEquals(127 * 7 * dim, panama.dotI8I4(q, 0, p, 0, dim));
      assertEquals(-127 * 7 * dim, panama.dotI8I4(fill(dim, -127), 0, p, 0, dim));
    }
  }

  /**
   * fp32 × int8 and fp32 × packed int4 against the unpacked definition summed in double: both
   * implementations within float rounding of it (they may sum in different orders), at offsets.
   */
  @Test
  void floatByCodeDotsMatchTheUnpackedDefinition() {
    for (int dim : DIMS) {
      int half = (dim + 1) / 2;
      SplittableRandom rnd = new SplittableRandom(dim * 31L);
      for (int trial = 0; trial < 100; trial++) {
        float[] u = new float[dim + 3];
        for (int i = 0; i < u.length; i++) {
          u[i] = (float) (rnd.nextGaussian() * Math.exp(3 * rnd.nextGaussian())); // heavy tailed
        }
        byte[] q = new byte[dim + 2];
        byte[] p = new byte[half + 1];
        rnd.nextBytes(q);
        rnd.nextBytes(p);
        if (dim % 2 == 1) {
          p[1 + half - 1] &= 0x0F; // the last high nibble is padding
        }
        double e8 = 0;
        double e4 = 0;
        double mag8 = 0;
        double mag4 = 0;
        for (int i = 0; i < dim; i++) {
          int c4 = dev.joule.bridge.kernel.Int4Quantizer.code(p, 1, dim, i);
          e8 += (double) u[3 + i] * q[2 + i];
          e4 += (double) u[3 + i] * c4;
          mag8 += Math.abs((double) u[3 + i] * q[2 + i]);
          mag4 += Math.abs((double) u[3 + i] * c4);
        }
        for (VectorOps ops : new VectorOps[] {scalar, panama}) {
          assertEquals(e8, ops.dotF32I8(u, 3, q, 2, dim), 1e-5 * mag8 + 1e-30, ops.name() + " i8 dim " + dim);
          assertEquals(e4, ops.dotF32I4(u, 3, p, 1, dim), 1e-5 * mag4 + 1e-30, ops.name() + " i4 dim " + dim);
        }
      }
      byte[] q = fill(dim, -128);
      byte[] p = fill(half, 0x88);
      if (dim % 2 == 1) {
        p[half - 1] = (byte) 0x08;
      }
      float[] ones = new float[dim];
      Arrays.fill(ones, 1f);
      assertEquals(-128f * dim, panama.dotF32I8(ones, 0, q, 0, dim));
      assertEquals(-8f * dim, panama.dotF32I4(ones, 0, p, 0, dim));
    }
  }

  @Test
  void rowScalingIsBitIdenticalAcrossImplementations() {
    for (int dim : DIMS) {
      SplittableRandom rnd = new SplittableRandom(dim * 13L);
      float[] x = new float[dim + 2];
      byte[] q = new byte[dim + 2];
      float[] t = new float[dim];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (rnd.nextGaussian() * Math.exp(4 * rnd.nextGaussian()));
      }
      rnd.nextBytes(q);
      for (int i = 0; i < dim; i++) {
        t[i] = (float) Math.exp(6 * rnd.nextGaussian());
      }
      float s = 0.0123f;
      float[] a = new float[dim];
      float[] b = new float[dim];
      scalar.scaleF32(x, 2, s, t, a, dim);
      panama.scaleF32(x, 2, s, t, b, dim);
      assertArrayEquals(a, b, "scaleF32 dim " + dim);
      scalar.scaleI8(q, 2, s, t, a, dim);
      panama.scaleI8(q, 2, s, t, b, dim);
      assertArrayEquals(a, b, "scaleI8 dim " + dim);
      assertEquals(q[2 + dim - 1] * s * t[dim - 1], b[dim - 1]);
    }
  }

  @Test
  void hammingMatchesAPlainBitLoop() {
    for (int dim : DIMS) {
      int words = (dim + 63) / 64;
      SplittableRandom rnd = new SplittableRandom(dim);
      for (int trial = 0; trial < 200; trial++) {
        byte[] a = new byte[8 * words + 8];
        byte[] b = new byte[8 * words + 8];
        rnd.nextBytes(a);
        rnd.nextBytes(b);
        int off = 8 * rnd.nextInt(2);
        int expected = 0;
        for (int i = 0; i < 8 * words; i++) {
          expected += Integer.bitCount((a[off + i] ^ b[off + i]) & 0xFF);
        }
        assertEquals(expected, scalar.hamming(a, off, b, off, words));
        assertEquals(expected, panama.hamming(a, off, b, off, words));
      }
      assertEquals(64 * words, panama.hamming(fill(8 * words, 0xFF), 0, fill(8 * words, 0), 0, words));
    }
  }

  /** The batched scan (four interleaved quarters plus a tail) against one row at a time. */
  @Test
  void hammingManyEqualsHammingRowByRowForEveryBlockSize() {
    SplittableRandom rnd = new SplittableRandom(17);
    for (int nRows : new int[] {0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 64, 101, 1001}) {
      for (int words : new int[] {1, 2, 6, 12, 13, 24}) {
        int stride = 8 * words + 8 * rnd.nextInt(2); // rows may be padded past their words
        int rowsOff = 8 * rnd.nextInt(3);
        byte[] rows = new byte[rowsOff + nRows * stride];
        byte[] q = new byte[8 + 8 * words];
        rnd.nextBytes(rows);
        rnd.nextBytes(q);
        for (VectorOps ops : new VectorOps[] {scalar, panama}) {
          int[] out = new int[nRows + 1];
          out[nRows] = -7; // untouched past the block
          ops.hammingMany(q, 8, rows, rowsOff, stride, words, nRows, out);
          for (int j = 0; j < nRows; j++) {
            assertEquals(scalar.hamming(q, 8, rows, rowsOff + j * stride, words), out[j],
                ops.name() + ": row " + j + " of " + nRows + ", " + words + " words");
          }
          assertEquals(-7, out[nRows]);
        }
      }
    }
  }

  /** The 4-bit-query scan against its definition: Σ_i u_i·bit_i(row), bit by bit. */
  @Test
  void planeDotManyIsTheDotOfTheQueryCodesWithEachRowsBits() {
    SplittableRandom rnd = new SplittableRandom(23);
    for (int nRows : new int[] {0, 1, 5, 64, 101}) {
      for (int words : new int[] {1, 2, 6, 13}) {
        int dims = 64 * words - rnd.nextInt(40);
        int stride = 8 * words + 8 * rnd.nextInt(2);
        int rowsOff = 8 * rnd.nextInt(3);
        byte[] rows = new byte[rowsOff + nRows * stride];
        rnd.nextBytes(rows);
        int[] u = new int[dims];
        long[] planes = new long[4 * words];
        for (int i = 0; i < dims; i++) {
          u[i] = rnd.nextInt(16);
          for (int k = 0; k < 4; k++) {
            if ((u[i] >> k & 1) != 0) {
              planes[k * words + i / 64] |= 1L << (i % 64);
            }
          }
        }
        for (VectorOps ops : new VectorOps[] {scalar, panama}) {
          int[] out = new int[nRows + 1];
          out[nRows] = -7;
          ops.planeDotMany(planes, words, rows, rowsOff, stride, nRows, out);
          for (int j = 0; j < nRows; j++) {
            int want = 0;
            for (int i = 0; i < dims; i++) {
              want += (rows[rowsOff + j * stride + i / 8] >> (i % 8) & 1) * u[i];
            }
            assertEquals(want, out[j], ops.name() + ": row " + j + ", " + words + " words");
          }
          assertEquals(-7, out[nRows]);
        }
      }
    }
  }

  @Test
  void providerHonoursTheForcingProperty() {
    assertSame(ScalarVectorOps.INSTANCE, VectorOpsProvider.choose("scalar"));
    assertEquals(panama.name(), VectorOpsProvider.choose("panama").name());
    assertEquals(panama.name(), VectorOpsProvider.choose("auto").name());
    assertThrows(IllegalArgumentException.class, () -> VectorOpsProvider.choose("gpu"));
  }

  private static byte[] fill(int n, int v) {
    byte[] a = new byte[n];
    Arrays.fill(a, (byte) v);
    return a;
  }

  private static byte[] alternating(int n) {
    byte[] a = new byte[n];
    for (int i = 0; i < n; i++) {
      a[i] = (byte) (i % 2 == 0 ? 127 : -128);
    }
    return a;
  }

  /**
   * The head's blocked dots against the integer dot, bit for bit: rows and classes that hit every
   * block remainder (odd rows, classes not a multiple of four), dims with tails, extreme codes
   * (-128 on both sides at dim 1024 is the bound's edge, 2^24), offsets into both arrays.
   */
  @ParameterizedTest
  @ValueSource(ints = {1, 7, 16, 17, 33, 384, 768, 1000, 1024})
  void headDotsEqualTheIntegerDots(int dim) {
    SplittableRandom rnd = new SplittableRandom(dim * 31L);
    for (int[] shape : new int[][] {{1, 1}, {2, 4}, {3, 10}, {5, 3}, {8, 9}, {4, 58}}) {
      int rows = shape[0];
      int outputs = shape[1];
      int qOff = rnd.nextInt(7);
      int yOff = rnd.nextInt(3);
      byte[] q = new byte[qOff + rows * dim];
      byte[] wq = new byte[outputs * dim];
      boolean extreme = rows == 2;
      for (int i = 0; i < q.length; i++) {
        q[i] = extreme ? (byte) -128 : (byte) rnd.nextInt(-128, 128);
      }
      for (int i = 0; i < wq.length; i++) {
        wq[i] = extreme ? (byte) -128 : (byte) rnd.nextInt(-127, 128);
      }
      float[] w = new float[wq.length];
      for (int i = 0; i < w.length; i++) {
        w[i] = wq[i];
      }
      float[] expected = new float[yOff + rows * outputs];
      for (int r = 0; r < rows; r++) {
        for (int j = 0; j < outputs; j++) {
          expected[yOff + r * outputs + j] = scalar.dotI8(q, qOff + r * dim, wq, j * dim, dim);
        }
      }
      for (VectorOps ops : new VectorOps[] {scalar, panama}) {
        float[] y = new float[expected.length];
        ops.headDotsI8(q, qOff, rows, dim, w, outputs, y, yOff);
        assertArrayEquals(expected, y, ops.name() + " dim " + dim + " rows " + rows + " outputs " + outputs);
      }
    }
  }

  /** The Vector API's exp gives {@link FastExp}'s bits, within 2 ulp of e^x, over every range it handles. */
  @Test
  void expIsFastExpInEveryLaneAndNearTheTrueValue() {
    SplittableRandom rnd = new SplittableRandom(11);
    int n = 100_003;
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = switch (i % 5) {
        case 0 -> (float) rnd.nextDouble(-20, 0);
        case 1 -> (float) rnd.nextDouble(-88, 89);
        case 2 -> (float) rnd.nextDouble(-1e-3, 1e-3);
        case 3 -> (float) rnd.nextDouble(-100, -80);
        default -> (float) rnd.nextDouble(-2, 2);
      };
    }
    x[0] = Float.NaN;
    x[1] = Float.NEGATIVE_INFINITY;
    x[2] = Float.POSITIVE_INFINITY;
    x[3] = 0f;
    x[4] = -87.3f;
    x[37] = Float.NaN;
    float[] s = x.clone();
    float[] v = x.clone();
    scalar.exp(s, 1, n - 1);
    panama.exp(v, 1, n - 1);
    assertEquals(x[0], s[0], "outside the range given: untouched");
    assertArrayEquals(s, v, "lanes and the scalar loop");
    for (int i = 5; i < n; i++) {
      double truth = Math.exp(x[i]);
      if (Float.isNaN(x[i])) {
        assertEquals(Float.NaN, v[i], "NaN in a lane");
      } else if (x[i] < -87.3f) {
        assertEquals(0f, s[i], "below the smallest normal: 0 at " + x[i]);
      } else if (x[i] <= 88f && truth >= Float.MIN_NORMAL) {
        assertEquals(truth, s[i], 2 * Math.ulp((float) truth), "e^" + x[i]);
      }
    }
    assertEquals(1f, s[3]);
    assertEquals(0f, s[1]);
    assertEquals((float) Math.exp(88), s[2], 2 * Math.ulp((float) Math.exp(88)), "above 88: e^88");
  }

  /**
   * A row's fp32 head dots do not depend on its place in the batch (paired, odd and last, or
   * alone) nor on which block its class falls in: the driver's sample and the executors' batches
   * get the same bits. Float weights (not integers), so summation order would show.
   */
  @ParameterizedTest
  @ValueSource(ints = {5, 16, 33, 384})
  void headDotsOfARowAreTheSameInAnyBatch(int dim) {
    SplittableRandom rnd = new SplittableRandom(dim * 13L);
    int rows = 7;
    for (int outputs : new int[] {1, 3, 6, 10}) {
      byte[] q = new byte[rows * dim];
      float[] x = new float[rows * dim];
      for (int i = 0; i < q.length; i++) {
        q[i] = (byte) rnd.nextInt(-128, 128);
        x[i] = (float) rnd.nextGaussian();
      }
      float[] w = new float[outputs * dim];
      for (int i = 0; i < w.length; i++) {
        w[i] = (float) rnd.nextGaussian();
      }
      float[] batchI8 = new float[rows * outputs];
      float[] batchF32 = new float[rows * outputs];
      panama.headDotsI8(q, 0, rows, dim, w, outputs, batchI8, 0);
      panama.headDotsF32(x, 0, rows, dim, w, outputs, batchF32, 0);
      for (int r = 0; r < rows; r++) {
        float[] aloneI8 = new float[outputs];
        float[] aloneF32 = new float[outputs];
        panama.headDotsI8(q, r * dim, 1, dim, w, outputs, aloneI8, 0);
        panama.headDotsF32(x, r * dim, 1, dim, w, outputs, aloneF32, 0);
        assertArrayEquals(aloneI8, Arrays.copyOfRange(batchI8, r * outputs, (r + 1) * outputs),
            "int8 rows, dim " + dim + " outputs " + outputs + " row " + r);
        assertArrayEquals(aloneF32, Arrays.copyOfRange(batchF32, r * outputs, (r + 1) * outputs),
            "fp32 rows, dim " + dim + " outputs " + outputs + " row " + r);
        for (int j = 0; j < outputs; j++) {
          assertEquals(scalar.dotF32(x, r * dim, w, j * dim, dim), batchF32[r * outputs + j],
              1e-4f * (1 + Math.abs(batchF32[r * outputs + j])), "fp32 dot, row " + r + " class " + j);
        }
      }
    }
  }
}
