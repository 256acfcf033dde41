package dev.joule.bridge.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.vector.ScalarVectorOps;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Column-channel weight scaling: its arithmetic, its record in the kernel, its choice. */
class ColumnChannelScalingTest {

  static final VectorOps SCALAR = ScalarVectorOps.INSTANCE;
  static final VectorOps BEST = VectorOpsProvider.get();

  /** Weights whose size is set by the column, over five orders of magnitude, plus zero columns. */
  static float[][] columnScaledWeights(long seed, int outputs, int dim) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[][] w = new float[outputs][dim];
    for (int c = 0; c < dim; c++) {
      double scale = c % 11 == 3 ? 0 : Math.exp(rnd.nextDouble(-6, 6));
      for (int j = 0; j < outputs; j++) {
        w[j][c] = (float) (scale * rnd.nextGaussian());
      }
    }
    return w;
  }

  static LinearKernel kernel(float[][] w, Precision p, WeightScaling s) {
    float[] bias = new float[w.length];
    Arrays.fill(bias, 0.25f);
    return LinearKernel.fromWeights(w, bias, PlantedOutliersTest.labels(w.length), Activation.RAW, p, s);
  }

  static float[] score(Kernel k, EncodedRows in, VectorOps ops) {
    KernelOutput out = k.newOutput();
    k.score(in, out, ops);
    return Arrays.copyOf(out.scores(), in.rows() * k.width());
  }

  @Test
  void codesStayWithinHalfAStepOfEveryWeightAndScoresMatchTheDequantizedProduct() {
    for (Precision p : new Precision[] {Precision.INT8, Precision.INT4}) {
      for (int dim : new int[] {1, 17, 64, 257}) {
        float[][] w = columnScaledWeights(dim, 6, dim);
        LinearKernel k = kernel(w, p, WeightScaling.COLUMN_CHANNEL);
        ScaledWeights q = k.scaledWeights();
        float[] t = q.columnScales();
        for (int j = 0; j < w.length; j++) {
          float s = k.weights().scales()[j];
          for (int c = 0; c < dim; c++) {
            // int8 rows are max-abs (error ≤ half a step); int4 rows are MSE-fitted and may clip
            // the largest unit weight: ≤ a step plus the clip, within 1.5 steps of the fit.
            double bound = (p == Precision.INT8 ? 0.5001 : 1.5) * s * t[c] + 1e-30;
            assertTrue(Math.abs(w[j][c] - q.dequantized(j, c)) <= bound,
                p + " dim " + dim + " w[" + j + "][" + c + "] = " + w[j][c] + " vs " + q.dequantized(j, c));
          }
        }
        SplittableRandom rnd = new SplittableRandom(5);
        int rows = 9;
        float[] x = new float[rows * dim];
        for (int i = 0; i < x.length; i++) {
          x[i] = rnd.nextDouble() < 0.7 ? 0f : (float) Math.floor(rnd.nextDouble() * 40); // sparse counts
        }
        // The quantized weights' own product: int4 kernels rescore near ties (NearTiesTest).
        float[] got = score(k.withoutNearTies(), EncodedRows.fp32(rows, dim, x), SCALAR);
        for (int r = 0; r < rows; r++) {
          for (int j = 0; j < w.length; j++) {
            double expect = 0.25;
            double mag = 0.25;
            for (int c = 0; c < dim; c++) {
              expect += (double) x[r * dim + c] * q.dequantized(j, c);
              mag += Math.abs((double) x[r * dim + c] * q.dequantized(j, c));
            }
            assertEquals(expect, got[r * w.length + j], 1e-5 * mag, p + " dim " + dim + " row " + r);
          }
        }
      }
    }
  }

  @Test
  void theChoiceIsRecordedDeterministicAndSurvivesTheCodec() {
    float[][] w = columnScaledWeights(3, 10, 96);
    for (Precision p : new Precision[] {Precision.INT8, Precision.INT4}) {
      LinearKernel a = LinearKernel.fromWeights(w, new float[10], PlantedOutliersTest.labels(10), Activation.SOFTMAX, p);
      LinearKernel b = LinearKernel.fromWeights(w, new float[10], PlantedOutliersTest.labels(10), Activation.SOFTMAX, p);
      assertEquals(WeightScaling.COLUMN_CHANNEL, a.scalingChoice().chosen(), a.scalingChoice().describe());
      assertEquals("probes", a.scalingChoice().calibration());
      byte[] bytes = KernelCodec.encode(a);
      assertArrayEquals(bytes, KernelCodec.encode(b), "same weights, same bytes");
      String id = KernelCodec.kernelId(bytes);
      LinearKernel back = (LinearKernel) KernelCodec.decodeUntrusted(bytes, id, KernelLimits.DEFAULT);
      assertEquals(a.scalingChoice(), back.scalingChoice());
      assertEquals(Precision.FP32, back.queryPrecision());
      assertArrayEquals(bytes, KernelCodec.encode(back));
      assertEquals("column-channel", a.toPayload().meta().get("w.scaling"));
      assertTrue(a.toPayload().meta().get("w.scaling.why").matches(
          "probes per-channel=[0-9.e+-]+ column-channel=[0-9.e+-]+"), a.toPayload().meta().get("w.scaling.why"));
      LinearKernel perChannel = LinearKernel.fromWeights(w, new float[10], PlantedOutliersTest.labels(10),
          Activation.SOFTMAX, p, WeightScaling.PER_CHANNEL);
      assertNotEquals(id, KernelCodec.kernelId(KernelCodec.encode(perChannel)), "the scaling is part of the id");
      float[] x = new float[3 * 96];
      for (int i = 0; i < x.length; i++) {
        x[i] = i % 5 == 0 ? i % 17 : 0;
      }
      assertArrayEquals(score(a, EncodedRows.fp32(3, 96, x), BEST), score(back, EncodedRows.fp32(3, 96, x), BEST));
    }
  }

  @Test
  void perChannelKernelsKeepTheirBytesAndDecodeWithoutARecord() {
    float[][] w = LinearKernelTest.randomWeights(new SplittableRandom(4), 10, 64, 1);
    LinearKernel k = LinearKernel.fromWeights(w, new float[10], PlantedOutliersTest.labels(10), Activation.SOFTMAX,
        Precision.INT8);
    assertEquals(WeightScaling.PER_CHANNEL, k.scalingChoice().chosen(), k.scalingChoice().describe());
    assertEquals(2, k.scalingChoice().outputError().size(), "both candidates measured");
    assertNull(k.toPayload().meta().get("w.scaling"));
    // The codes are those EncodedRows has always made, and no column scales are stored.
    assertArrayEquals(EncodedRows.encode(Precision.INT8, 10, 64, LinearKernel.flatten(w)).codes(), k.weights().codes());
    assertTrue(k.toPayload().blobs().keySet().stream().noneMatch(n -> n.endsWith(".columns")));
    LinearKernel back = (LinearKernel) KernelCodec.decode(KernelCodec.encode(k));
    assertEquals(ScalingChoice.unrecorded(), back.scalingChoice());
    assertEquals(Precision.INT8, back.queryPrecision());
  }

  @Test
  void hostileColumnScalesAreRefused() {
    LinearKernel k = kernel(columnScaledWeights(9, 3, 8), Precision.INT8, WeightScaling.COLUMN_CHANNEL);
    KernelPayload shortColumns = k.toPayload().floats("w.columns", new float[7]);
    KernelPayload negative = k.toPayload().floats("w.columns", new float[] {1, 1, 1, -1, 1, 1, 1, 1});
    KernelPayload badWhy = k.toPayload().meta("w.scaling.why", "probes per-channel");
    KernelPayload fp32 = kernel(columnScaledWeights(9, 3, 8), Precision.FP32, WeightScaling.PER_CHANNEL).toPayload()
        .meta("w.scaling", "column-channel").meta("w.scaling.why", "forced").floats("w.columns", new float[8]);
    for (KernelPayload p : List.of(shortColumns, negative, badWhy, fp32)) {
      byte[] bytes = KernelCodec.encode(LinearKernel.OP, p);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> KernelCodec.decodeUntrusted(bytes, KernelCodec.kernelId(bytes), KernelLimits.DEFAULT));
      assertTrue(e.getMessage().startsWith("malformed kernel"), e.getMessage());
    }
  }

  @Test
  void readsFp32Int8AndInt4RowsAndRefusesOthers() {
    float[][] w = columnScaledWeights(2, 4, 33);
    LinearKernel k = kernel(w, Precision.INT4, WeightScaling.COLUMN_CHANNEL);
    float[] x = new float[2 * 33];
    for (int i = 0; i < x.length; i++) {
      x[i] = (i * 7) % 13;
    }
    float[] exact = score(k, EncodedRows.fp32(2, 33, x), SCALAR);
    for (Precision p : new Precision[] {Precision.INT8, Precision.INT4}) {
      EncodedRows in = EncodedRows.encode(p, 2, 33, x);
      float[] got = score(k, in, SCALAR);
      // The same sum over the dequantized row: close to the fp32 row's, not equal to it.
      for (int i = 0; i < got.length; i++) {
        assertTrue(Float.isFinite(got[i]));
      }
      assertNotEquals(Arrays.toString(exact), Arrays.toString(got), p + " rows were read as they are");
    }
    // What a codes table may hold for this kernel: what score() takes.
    assertEquals(List.of(Precision.FP32, Precision.INT8, Precision.INT4),
        Arrays.stream(Precision.values()).filter(k::reads).toList());
    LinearKernel perChannel = kernel(w, Precision.INT4, WeightScaling.PER_CHANNEL);
    assertEquals(List.of(Precision.INT8, Precision.INT4),
        Arrays.stream(Precision.values()).filter(perChannel::reads).toList());
    KernelOutput out = k.newOutput();
    assertThrows(IllegalArgumentException.class, () -> k.score(EncodedRows.encode(Precision.BINARY, 2, 33, x), out, SCALAR));
    assertThrows(IllegalArgumentException.class, () -> k.score(EncodedRows.fp32(1, 32, new float[32]), out, SCALAR));
  }

  @Test
  void mlpFirstLayersChooseTheirScalingTheSameWay() {
    float[][] w1 = columnScaledWeights(12, 16, 80);
    float[][] w2 = LinearKernelTest.randomWeights(new SplittableRandom(1), 3, 16, 1);
    for (Precision p : new Precision[] {Precision.INT8, Precision.INT4}) {
      MlpKernel k = MlpKernel.fromWeights(w1, new float[16], w2, new float[3], List.of("a", "b", "c"),
          Activation.SOFTMAX, MlpKernel.Hidden.SIGMOID, p);
      assertEquals(WeightScaling.COLUMN_CHANNEL, k.scalingChoice().chosen(), k.scalingChoice().describe());
      assertEquals(Precision.FP32, k.queryPrecision());
      byte[] bytes = KernelCodec.encode(k);
      MlpKernel back = (MlpKernel) KernelCodec.decodeUntrusted(bytes, KernelCodec.kernelId(bytes), KernelLimits.DEFAULT);
      assertEquals(k.scalingChoice(), back.scalingChoice());
      MlpKernel forced = MlpKernel.fromWeights(w1, new float[16], w2, new float[3], List.of("a", "b", "c"),
          Activation.SOFTMAX, MlpKernel.Hidden.SIGMOID, p, WeightScaling.COLUMN_CHANNEL);
      float[] x = new float[4 * 80];
      for (int i = 0; i < x.length; i++) {
        x[i] = i % 3 == 0 ? i % 29 : 0;
      }
      assertArrayEquals(score(forced, EncodedRows.fp32(4, 80, x), SCALAR), score(back, EncodedRows.fp32(4, 80, x), SCALAR));
    }
    // An MLP over embeddings keeps per-channel, with the bytes it always had.
    MlpKernel plain = MlpKernel.fromWeights(LinearKernelTest.randomWeights(new SplittableRandom(2), 16, 80, 1),
        new float[16], w2, new float[3], List.of("a", "b", "c"), Activation.SOFTMAX, Precision.INT8);
    assertEquals(WeightScaling.PER_CHANNEL, plain.scalingChoice().chosen(), plain.scalingChoice().describe());
    assertNull(plain.toPayload().meta().get("w1.scaling"));
  }

  @Test
  void callersRowsCanDecide() {
    PlantedOutlierHead h = PlantedOutlierHead.fitted(7, 10, 64, 4, 600, 60);
    ScalingChooser onRows = ScalingChooser.withRows(Arrays.copyOf(h.x(), 200 * 64), 200);
    LinearKernel k = LinearKernel.fromWeights(h.w(), h.bias(), PlantedOutliersTest.labels(10), Activation.SOFTMAX,
        Precision.INT8, onRows);
    assertEquals("rows-200", k.scalingChoice().calibration());
    assertEquals(WeightScaling.COLUMN_CHANNEL, k.scalingChoice().chosen(), k.scalingChoice().describe());
    // Embedding rows on an embedding head: per-channel is kept.
    PlantedOutlierHead e = PlantedOutlierHead.embeddings(7, 10, 128, 200);
    LinearKernel ke = LinearKernel.fromWeights(e.w(), e.bias(), PlantedOutliersTest.labels(10), Activation.SOFTMAX,
        Precision.INT8, ScalingChooser.withRows(e.x(), 200));
    assertEquals(WeightScaling.PER_CHANNEL, ke.scalingChoice().chosen(), ke.scalingChoice().describe());
  }
}
