package dev.joule.bridge.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.joule.bridge.vector.ScalarVectorOps;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The sigmoid hidden layer (MLlib's MLP): the definition, the round trip, and ReLU kernels unchanged. */
class MlpHiddenActivationTest {

  @Test
  void sigmoidHiddenLayerMatchesTheDefinitionAndSurvivesTheCodec() {
    SplittableRandom rnd = new SplittableRandom(8);
    int dim = 7;
    int hidden = 5;
    float[][] w1 = new float[hidden][dim];
    float[] b1 = new float[hidden];
    float[][] w2 = new float[3][hidden];
    float[] b2 = new float[3];
    for (float[] r : w1) {
      for (int i = 0; i < dim; i++) {
        r[i] = (float) rnd.nextGaussian();
      }
    }
    for (float[] r : w2) {
      for (int i = 0; i < hidden; i++) {
        r[i] = (float) rnd.nextGaussian();
      }
    }
    List<String> labels = List.of("0", "1", "2");
    MlpKernel k = MlpKernel.fromWeights(w1, b1, w2, b2, labels, Activation.RAW, MlpKernel.Hidden.SIGMOID, Precision.FP32);
    float[] x = new float[dim];
    for (int i = 0; i < dim; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    KernelOutput out = k.newOutput().reset(1);
    k.score(EncodedRows.fp32(1, dim, x), out, ScalarVectorOps.INSTANCE);
    for (int j = 0; j < 3; j++) {
      double y = b2[j];
      for (int h = 0; h < hidden; h++) {
        double z = b1[h];
        for (int i = 0; i < dim; i++) {
          z += (double) w1[h][i] * x[i];
        }
        y += w2[j][h] / (1 + Math.exp(-z));
      }
      assertEquals(y, out.scores()[j], 1e-5);
    }
    Kernel back = KernelCodec.decode(KernelCodec.encode(k));
    KernelOutput out2 = back.newOutput().reset(1);
    back.score(EncodedRows.fp32(1, dim, x), out2, ScalarVectorOps.INSTANCE);
    assertArrayEquals(java.util.Arrays.copyOf(out.scores(), 3), java.util.Arrays.copyOf(out2.scores(), 3));
    assertEquals("mlp5-sigmoid-raw@fp32", back.displayName());

    MlpKernel relu = MlpKernel.fromWeights(w1, b1, w2, b2, labels, Activation.RAW, Precision.FP32);
    assertFalse(relu.toPayload().meta().containsKey("hidden"), "ReLU kernels keep their bytes and ids");
    assertEquals("mlp5-raw@fp32", relu.displayName());
    assertNotEquals(KernelCodec.kernelId(KernelCodec.encode(relu)), KernelCodec.kernelId(KernelCodec.encode(k)));
  }
}
