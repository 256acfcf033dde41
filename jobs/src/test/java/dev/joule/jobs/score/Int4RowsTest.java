package dev.joule.jobs.score;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.DimensionScales;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.LinearKernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.kernel.ScalingChooser;
import dev.joule.bridge.kernel.WeightScaling;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.JouleConfig;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code score.int4-rows}: which rows an int4 kernel is sent. */
class Int4RowsTest {

  static final float[][] W = {{1f, -2f, 0.5f, 3f}, {-1f, 0.25f, 2f, -0.5f}, {0.1f, 1f, -1f, 2f}};
  static final List<String> LABELS = List.of("a", "b", "c");

  static Kernel kernel(WeightScaling s) {
    return LinearKernel.fromWeights(W, new float[3], LABELS, Activation.SOFTMAX, Precision.INT4, s);
  }

  static JouleConfig config(String v) {
    return JouleConfig.load(null, List.of("score.int4-rows=" + v));
  }

  @Test
  void autoSendsWhatTheKernelAsksForInt8OverDimensionScales() {
    JouleConfig auto = JouleConfig.defaults();
    assertNull(Scoring.int4Rows(auto), "auto: the kernel's own rows");
    assertEquals(Precision.INT8, kernel(WeightScaling.PER_CHANNEL).queryPrecision());
    assertEquals(Precision.FP32, kernel(WeightScaling.COLUMN_CHANNEL).queryPrecision());
    Kernel divided = LinearKernel.fromWeights(W, new float[3], LABELS, Activation.SOFTMAX, Precision.INT4,
        ScalingChooser.withProbes(), DimensionScales.ofMaxAbs(new float[] {1f, 2f, 1e-3f, 4f}));
    assertEquals(Precision.INT8, divided.queryPrecision(), "rows divided by dimension scales go as int8 codes");
    assertNull(Scoring.int4Rows(config(" AUTO ")));
  }

  @Test
  void anExplicitPrecisionIsSentAsItIsAndAnythingElseIsAUsageError() {
    assertEquals(Precision.INT8, Scoring.int4Rows(config("int8")));
    assertEquals(Precision.INT4, Scoring.int4Rows(config("int4")));
    for (String bad : List.of("fp32", "binary", "int16")) {
      JouleException e = assertThrows(JouleException.class, () -> Scoring.int4Rows(config(bad)));
      assertTrue(e.getMessage().contains("takes auto, int8 or int4"), e.getMessage());
    }
  }
}
