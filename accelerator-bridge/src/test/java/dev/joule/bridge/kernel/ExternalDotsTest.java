package dev.joule.bridge.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.vector.ScalarVectorOps;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A head whose dots are taken elsewhere (a GPU) and finished by {@link LinearKernel#scoreFromDots}
 * gives the CPU kernel's answers: the same bits for int8 (exact integer dots), the same within
 * float summation order for fp32. The dots here are the scalar oracle's, as a GPU's would be.
 */
class ExternalDotsTest {

  static final VectorOps BEST = VectorOpsProvider.get();

  /** Σ x·w per row and class: exact integers for int8 codes, doubles rounded once for fp32. */
  static float[] oracleDots(EncodedRows in, EncodedRows w) {
    float[] d = new float[in.rows() * w.rows()];
    for (int r = 0; r < in.rows(); r++) {
      for (int j = 0; j < w.rows(); j++) {
        double acc = 0;
        long exact = 0;
        for (int i = 0; i < in.dim(); i++) {
          if (in.precision() == Precision.INT8) {
            exact += in.codes()[r * in.dim() + i] * w.codes()[j * in.dim() + i];
          } else {
            acc += (double) in.values()[r * in.dim() + i] * w.values()[j * in.dim() + i];
          }
        }
        d[r * w.rows() + j] = in.precision() == Precision.INT8 ? (float) exact : (float) acc;
      }
    }
    return d;
  }

  @Test
  void perChannelHeadsFinishedFromOutsideDotsGiveTheCpuKernelsAnswers() {
    SplittableRandom rnd = new SplittableRandom(11);
    for (int trial = 0; trial < 60; trial++) {
      int dim = new int[] {4, 7, 64, 383, 384, 768, 1030}[trial % 7];
      int outputs = 1 + rnd.nextInt(17);
      int rows = 1 + rnd.nextInt(40);
      Activation act = Activation.values()[trial % 3];
      float[][] w = LinearKernelTest.randomWeights(rnd, outputs, dim, 1.0 / Math.sqrt(dim));
      float[] bias = new float[outputs];
      for (int j = 0; j < outputs; j++) {
        bias[j] = (float) rnd.nextGaussian();
      }
      float[] x = new float[rows * dim];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (rnd.nextGaussian() * (1 + 3 * rnd.nextDouble()));
      }
      for (Precision p : new Precision[] {Precision.INT8, Precision.FP32}) {
        LinearKernel k = LinearKernel.fromWeights(w, bias, LinearKernelTest.labels(outputs), act, p,
            WeightScaling.PER_CHANNEL);
        EncodedRows in = EncodedRows.encode(p, rows, dim, x);
        assertNull(k.externalDotsRefusal(p), k.displayName());
        for (VectorOps ops : new VectorOps[] {BEST, ScalarVectorOps.INSTANCE}) {
          KernelOutput cpu = k.newOutput();
          k.score(in, cpu, ops);
          KernelOutput outside = k.newOutput();
          k.scoreFromDots(in, oracleDots(in, k.weights()), outside, ops);
          float[] a = java.util.Arrays.copyOf(cpu.scores(), rows * outputs);
          float[] b = java.util.Arrays.copyOf(outside.scores(), rows * outputs);
          if (p == Precision.INT8) {
            assertArrayEquals(a, b, "int8: the same bits, trial " + trial + " " + ops.name());
          } else {
            for (int i = 0; i < a.length; i++) {
              assertEquals(a[i], b[i], 1e-5 * Math.max(1, Math.abs(a[i])), "fp32, trial " + trial + " at " + i);
            }
          }
        }
      }
    }
  }

  @Test
  void headsThatCannotTakeOutsideDotsSayWhy() {
    SplittableRandom rnd = new SplittableRandom(3);
    float[][] w = LinearKernelTest.randomWeights(rnd, 5, 32, 0.2);
    float[] bias = new float[5];
    LinearKernel int8 = LinearKernel.fromWeights(w, bias, LinearKernelTest.labels(5), Activation.SOFTMAX,
        Precision.INT8, WeightScaling.PER_CHANNEL);
    assertTrue(int8.externalDotsRefusal(Precision.FP32).contains("rows at fp32"), int8.externalDotsRefusal(Precision.FP32));
    LinearKernel int4 = LinearKernel.fromWeights(w, bias, LinearKernelTest.labels(5), Activation.SOFTMAX,
        Precision.INT4, WeightScaling.PER_CHANNEL);
    assertNotNull(int4.externalDotsRefusal(Precision.INT8));
    LinearKernel column = LinearKernel.fromWeights(w, bias, LinearKernelTest.labels(5), Activation.SOFTMAX,
        Precision.INT8, WeightScaling.COLUMN_CHANNEL);
    assertTrue(column.externalDotsRefusal(Precision.FP32).contains("per-channel"), column.externalDotsRefusal(Precision.FP32));
    EncodedRows in = EncodedRows.encode(Precision.INT8, 2, 32, new float[64]);
    assertThrows(IllegalArgumentException.class, () -> int4.scoreFromDots(in, new float[10], int4.newOutput(), BEST));
    assertThrows(IllegalArgumentException.class, () -> int8.scoreFromDots(in, new float[9], int8.newOutput(), BEST),
        "too few dots");
  }
}
