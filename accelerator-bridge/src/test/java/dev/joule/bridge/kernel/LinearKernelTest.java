package dev.joule.bridge.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LinearKernelTest {

  static final VectorOps BEST = VectorOpsProvider.get();

  static float[][] randomWeights(SplittableRandom rnd, int outputs, int dim, double scale) {
    float[][] w = new float[outputs][dim];
    for (float[] row : w) {
      for (int i = 0; i < dim; i++) {
        row[i] = (float) (rnd.nextGaussian() * scale);
      }
    }
    return w;
  }

  static List<String> labels(int n) {
    List<String> l = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      l.add("c" + i);
    }
    return l;
  }

  static float[] score(Kernel k, EncodedRows in) {
    KernelOutput out = k.newOutput();
    k.score(in, out, BEST);
    return java.util.Arrays.copyOf(out.scores(), in.rows() * k.width());
  }

  @Test
  void int8ProbabilitiesStayWithinTheAnalyticBoundOfFp32() {
    SplittableRandom rnd = new SplittableRandom(7);
    double worst = 0;
    double worstRatio = 0;
    for (int trial = 0; trial < 50; trial++) {
      int dim = new int[] {16, 17, 384, 768, 1023}[trial % 5];
      int outputs = 2 + rnd.nextInt(12);
      int rows = 32;
      float[][] w = randomWeights(rnd, outputs, dim, 1.0 / Math.sqrt(dim));
      float[] bias = new float[outputs];
      for (int j = 0; j < outputs; j++) {
        bias[j] = (float) rnd.nextGaussian();
      }
      LinearKernel fp32 = LinearKernel.fromWeights(w, bias, labels(outputs), Activation.SOFTMAX, Precision.FP32);
      // The bound below is per-channel's (one scale per weight row); 2-class heads may choose
      // column-channel, which ColumnChannelScalingTest bounds.
      LinearKernel int8 = LinearKernel.fromWeights(w, bias, labels(outputs), Activation.SOFTMAX, Precision.INT8,
          WeightScaling.PER_CHANNEL);
      float[] x = new float[rows * dim];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (rnd.nextGaussian() * (1 + 3 * rnd.nextDouble()));
      }
      float[] p32 = score(fp32, EncodedRows.fp32(rows, dim, x));
      EncodedRows q = EncodedRows.encode(Precision.INT8, rows, dim, x);
      float[] p8 = score(int8, q);
      for (int r = 0; r < rows; r++) {
        // Per-logit error of symmetric quantization: |x·w − x̂·ŵ| ≤ s_x/2·‖w‖₁ + s_w/2·‖x‖₁ +
        // dim·s_x·s_w/4; softmax is ½-Lipschitz in the ∞-norm, so |Δp| ≤ ½·max|Δz|.
        double maxLogitBound = 0;
        float sx = q.scales()[r];
        for (int j = 0; j < outputs; j++) {
          float sw = int8.weights().scales()[j];
          double w1 = 0;
          double x1 = 0;
          for (int i = 0; i < dim; i++) {
            w1 += Math.abs(w[j][i]);
            x1 += Math.abs(x[r * dim + i]);
          }
          maxLogitBound = Math.max(maxLogitBound, sx / 2 * w1 + sw / 2 * x1 + dim * sx * sw / 4);
        }
        double bound = 0.5 * maxLogitBound + 1e-5;
        for (int j = 0; j < outputs; j++) {
          double err = Math.abs(p32[r * outputs + j] - p8[r * outputs + j]);
          assertTrue(err <= bound, "row " + r + " output " + j + ": error " + err + " > bound " + bound);
          worst = Math.max(worst, err);
          worstRatio = Math.max(worstRatio, err / bound);
        }
      }
    }
    System.out.printf("int8 vs fp32 softmax: max |dp| = %.5f (worst error / analytic bound = %.3f)%n",
        worst, worstRatio);
    assertTrue(worst > 0, "int8 and fp32 agreed exactly: the int8 path was not exercised");
  }

  @Test
  void softmaxRowsSumToOneAndLogisticIsInUnitInterval() {
    SplittableRandom rnd = new SplittableRandom(3);
    int dim = 33;
    int outputs = 4;
    float[][] w = randomWeights(rnd, outputs, dim, 3);
    float[] x = new float[10 * dim];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) rnd.nextGaussian() * 10;
    }
    for (Precision p : new Precision[] {Precision.FP32, Precision.INT8, Precision.INT4}) {
      float[] soft = score(LinearKernel.fromWeights(w, new float[outputs], labels(outputs), Activation.SOFTMAX, p),
          EncodedRows.encode(p, 10, dim, x));
      for (int r = 0; r < 10; r++) {
        double s = 0;
        for (int j = 0; j < outputs; j++) {
          s += soft[r * outputs + j];
        }
        assertEquals(1.0, s, 1e-5);
      }
      for (float v : score(LinearKernel.fromWeights(w, new float[outputs], labels(outputs), Activation.LOGISTIC, p),
          EncodedRows.encode(p, 10, dim, x))) {
        assertTrue(v >= 0 && v <= 1);
      }
    }
  }

  @Test
  void rejectsMismatchedInputAndBinaryWeights() {
    LinearKernel k = LinearKernel.fromWeights(new float[][] {{1, 2}}, new float[] {0}, List.of("a"),
        Activation.RAW, Precision.INT8);
    KernelOutput out = k.newOutput();
    assertThrows(IllegalArgumentException.class, () -> k.score(EncodedRows.fp32(1, 2, new float[2]), out, BEST));
    assertThrows(IllegalArgumentException.class,
        () -> k.score(EncodedRows.encode(Precision.INT8, 1, 3, new float[3]), out, BEST));
    assertThrows(IllegalArgumentException.class, () -> LinearKernel.fromWeights(
        new float[][] {{1, Float.NaN}}, new float[] {0}, List.of("a"), Activation.RAW, Precision.FP32));
    IllegalArgumentException bin = assertThrows(IllegalArgumentException.class, () -> LinearKernel.fromWeights(
        new float[][] {{1, 2}}, new float[] {0}, List.of("a"), Activation.RAW, Precision.BINARY));
    assertTrue(bin.getMessage().contains("not binary"));
  }

  @Test
  void idsAreContentAddressedAndInt8IsSmallerThanFp32() {
    SplittableRandom rnd = new SplittableRandom(11);
    float[][] w = randomWeights(rnd, 3, 19, 1);
    float[] bias = {0.1f, -0.2f, 0.3f};
    byte[] a = KernelCodec.encode(LinearKernel.fromWeights(w, bias, List.of("x", "y", "z"), Activation.SOFTMAX, Precision.FP32));
    byte[] b = KernelCodec.encode(LinearKernel.fromWeights(w, bias, List.of("x", "y", "z"), Activation.SOFTMAX, Precision.INT8));
    assertNotEquals(KernelCodec.kernelId(a), KernelCodec.kernelId(b));
    assertTrue(b.length < a.length, "int8 kernel should be smaller than fp32");
    assertEquals(64, KernelCodec.kernelId(a).length());
  }

  @Test
  void decodeRejectsForeignBytes() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> KernelCodec.decode("not arrow".getBytes()));
    assertTrue(e.getMessage().contains("Arrow"), e.getMessage());
  }

  /**
   * The blocked int8 head (dim ≤ 1024) gives, bit for bit, what the pairwise integer dots give:
   * {@link Dots#dot} + bias, then the activation row by row. Odd row counts and class counts not a
   * multiple of four hit the block remainders; dim 1025 takes the pairwise path.
   */
  @Test
  void blockedInt8HeadEqualsThePairwiseDotsBitForBit() {
    SplittableRandom rnd = new SplittableRandom(23);
    for (int dim : new int[] {7, 64, 383, 768, 1024, 1025}) {
      for (int outputs : new int[] {2, 5, 10, 13}) {
        for (Activation act : Activation.values()) {
          float[][] w = randomWeights(rnd, outputs, dim, 1.0 / Math.sqrt(dim));
          float[] bias = new float[outputs];
          for (int j = 0; j < outputs; j++) {
            bias[j] = (float) rnd.nextGaussian();
          }
          LinearKernel k = LinearKernel.fromWeights(w, bias, labels(outputs), act, Precision.INT8,
              WeightScaling.PER_CHANNEL);
          assertEquals(dim <= VectorOps.EXACT_HEAD_DIM, k.fp32Arithmetic(), "the blocked head is charged fp32 MACs");
          int rows = 1 + rnd.nextInt(40);
          float[] x = new float[rows * dim];
          for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rnd.nextGaussian() * 3);
          }
          EncodedRows in = EncodedRows.encode(Precision.INT8, rows, dim, x);
          float[] expected = new float[rows * outputs];
          for (int r = 0; r < rows; r++) {
            for (int j = 0; j < outputs; j++) {
              expected[r * outputs + j] = Dots.dot(in, r, k.weights(), j, dev.joule.bridge.vector.ScalarVectorOps.INSTANCE)
                  + bias[j];
            }
            act.apply(expected, r * outputs, outputs);
          }
          for (VectorOps ops : new VectorOps[] {dev.joule.bridge.vector.ScalarVectorOps.INSTANCE, BEST}) {
            for (LinearKernel kernel : List.of(k, k.withPairwiseDots())) {
              KernelOutput out = kernel.newOutput();
              kernel.score(in, out, ops);
              org.junit.jupiter.api.Assertions.assertArrayEquals(expected, java.util.Arrays.copyOf(out.scores(),
                  rows * outputs), ops.name() + " dim " + dim + " outputs " + outputs + " " + act);
            }
          }
          assertTrue(!k.withPairwiseDots().fp32Arithmetic(), "pairwise dots are int8 MACs");
        }
      }
    }
  }

  /**
   * Unquantized (fp32) weights over int8 codes, blocked for the batch: the logits of a
   * double-precision oracle ({@code s_r·Σ q·w + b}) to fp32 rounding, and the pairwise path's
   * answers; dims past the exact bound too (fp32 sums have no such bound).
   */
  @Test
  void blockedUnquantizedHeadMatchesTheOracleAndThePairwiseDots() {
    SplittableRandom rnd = new SplittableRandom(29);
    for (int dim : new int[] {7, 64, 384, 768, 1536}) {
      for (int outputs : new int[] {2, 5, 10, 13}) {
        float[][] w = randomWeights(rnd, outputs, dim, 1.0 / Math.sqrt(dim));
        float[] bias = new float[outputs];
        for (int j = 0; j < outputs; j++) {
          bias[j] = (float) rnd.nextGaussian();
        }
        LinearKernel k = LinearKernel.fromWeights(w, bias, labels(outputs), Activation.RAW, Precision.INT8,
            WeightScaling.UNQUANTIZED);
        int rows = 1 + rnd.nextInt(40);
        float[] x = new float[rows * dim];
        for (int i = 0; i < x.length; i++) {
          x[i] = (float) (rnd.nextGaussian() * 3);
        }
        EncodedRows in = EncodedRows.encode(Precision.INT8, rows, dim, x);
        for (VectorOps ops : new VectorOps[] {dev.joule.bridge.vector.ScalarVectorOps.INSTANCE, BEST}) {
          float[] blocked = score(k, in, ops);
          float[] pairwise = score(k.withPairwiseDots(), in, ops);
          for (int r = 0; r < rows; r++) {
            for (int j = 0; j < outputs; j++) {
              double dot = 0;
              double magnitude = 0;
              for (int i = 0; i < dim; i++) {
                double p = in.codes()[r * dim + i] * (double) w[j][i];
                dot += p;
                magnitude += Math.abs(p);
              }
              double oracle = in.scales()[r] * dot + bias[j];
              double tol = 1e-6 * (in.scales()[r] * magnitude + Math.abs(bias[j]) + 1);
              int at = r * outputs + j;
              assertEquals(oracle, blocked[at], tol, ops.name() + " dim " + dim + " row " + r + " class " + j);
              assertEquals(pairwise[at], blocked[at], 2 * tol, ops.name() + " dim " + dim + " row " + r + " class " + j);
            }
          }
        }
      }
    }
  }

  /** The fp32 head, blocked for the batch, against the pairwise dots: fp32 summation order apart, the same. */
  @Test
  void blockedFp32HeadMatchesThePairwiseDots() {
    SplittableRandom rnd = new SplittableRandom(31);
    for (int dim : new int[] {7, 16, 383, 768}) {
      for (int outputs : new int[] {1, 4, 10, 13}) {
        float[][] w = randomWeights(rnd, outputs, dim, 1.0 / Math.sqrt(dim));
        float[] bias = new float[outputs];
        for (int j = 0; j < outputs; j++) {
          bias[j] = (float) rnd.nextGaussian();
        }
        LinearKernel k = LinearKernel.fromWeights(w, bias, labels(outputs), Activation.SOFTMAX, Precision.FP32);
        int rows = 1 + rnd.nextInt(40);
        float[] x = new float[rows * dim];
        for (int i = 0; i < x.length; i++) {
          x[i] = (float) rnd.nextGaussian();
        }
        EncodedRows in = EncodedRows.fp32(rows, dim, x);
        for (VectorOps ops : new VectorOps[] {dev.joule.bridge.vector.ScalarVectorOps.INSTANCE, BEST}) {
          float[] blocked = score(k, in, ops);
          float[] pairwise = score(k.withPairwiseDots(), in, ops);
          for (int i = 0; i < blocked.length; i++) {
            assertEquals(pairwise[i], blocked[i], 1e-5f * Math.max(1f, Math.abs(pairwise[i])),
                ops.name() + " dim " + dim + " outputs " + outputs + " at " + i);
          }
        }
      }
    }
  }

  static float[] score(Kernel k, EncodedRows in, VectorOps ops) {
    KernelOutput out = k.newOutput();
    k.score(in, out, ops);
    return java.util.Arrays.copyOf(out.scores(), in.rows() * k.width());
  }
}
