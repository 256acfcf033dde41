package dev.joule.bridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.Precision;
import java.util.SplittableRandom;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.types.pojo.Schema;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Arrow round trips of the bridge batches; every allocator must be empty afterwards. */
class BridgeBatchesTest {

  /**
   * A batch whose metadata claims more than it carries is refused by the size checks, which run
   * before anything is allocated: a 25 KB batch claiming joule.dim 4,000,000 once made a node
   * allocate 1.6 GB.
   */
  @Test
  void metadataThatDisagreesWithTheBytesIsRefusedBeforeAllocating() {
    int rows = 100;
    int dim = 256;
    float[] x = new float[rows * dim];
    java.util.Arrays.fill(x, 0.5f);
    try (RootAllocator root = new RootAllocator()) {
      for (Precision p : Precision.values()) {
        try (VectorSchemaRoot batch = BridgeBatches.toRequest(EncodedRows.encode(p, rows, dim, x), root)) {
          for (String claim : java.util.List.of("4000000", "10000000", "257", "0", "-3", "x")) {
            java.util.Map<String, String> meta = new java.util.HashMap<>(batch.getSchema().getCustomMetadata());
            meta.put("joule.dim", claim);
            VectorSchemaRoot lying = new VectorSchemaRoot(new Schema(batch.getSchema().getFields(), meta),
                batch.getFieldVectors(), batch.getRowCount());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BridgeBatches.fromRequest(lying));
            assertTrue(e.getMessage().contains("joule.dim"), p + " " + claim + ": " + e.getMessage());
          }
        }
      }
      assertEquals(0, root.getAllocatedMemory());
    }
  }

  @Test
  void aMissingColumnIsNamed() {
    try (RootAllocator root = new RootAllocator();
        VectorSchemaRoot batch = BridgeBatches.toRequest(EncodedRows.encode(Precision.INT8, 3, 8, new float[24]), root)) {
      java.util.Map<String, String> meta = new java.util.HashMap<>(batch.getSchema().getCustomMetadata());
      meta.put("joule.precision", "fp32");
      VectorSchemaRoot lying = new VectorSchemaRoot(new Schema(batch.getSchema().getFields(), meta),
          batch.getFieldVectors(), batch.getRowCount());
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BridgeBatches.fromRequest(lying));
      assertTrue(e.getMessage().contains("'embedding'"), e.getMessage());
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 17, 4096, 5000})
  void requestRoundTripAtEveryPrecision(int rows) {
    int dim = 37;
    SplittableRandom rnd = new SplittableRandom(rows);
    float[] x = new float[rows * dim];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    try (RootAllocator root = new RootAllocator()) {
      for (Precision p : Precision.values()) {
        EncodedRows in = EncodedRows.encode(p, rows, dim, x);
        try (BufferAllocator child = root.newChildAllocator("req", 0, Long.MAX_VALUE);
            VectorSchemaRoot batch = BridgeBatches.toRequest(in, child)) {
          assertEquals(rows, batch.getRowCount());
          EncodedRows back = BridgeBatches.fromRequest(batch);
          assertEquals(p, back.precision());
          assertEquals(dim, back.dim());
          assertArrayEquals(in.norms(), back.norms());
          if (p == Precision.FP32) {
            assertArrayEquals(x, back.values());
          } else {
            assertArrayEquals(in.codes(), back.codes());
            assertArrayEquals(in.scales(), back.scales());
          }
          // A second encoding for rescoring travels in the same batch.
          EncodedRows withRescore = in.withRescore(EncodedRows.encode(Precision.INT8, rows, dim, x));
          try (VectorSchemaRoot both = BridgeBatches.toRequest(withRescore, child)) {
            EncodedRows b2 = BridgeBatches.fromRequest(both);
            assertArrayEquals(withRescore.rescore().codes(), b2.rescore().codes());
            assertEquals(withRescore.payloadBytes(), b2.payloadBytes());
          }
        }
      }
      assertEquals(0, root.getAllocatedMemory());
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {0, 1, 4097})
  void responseCarriesArgmaxAndAllScores(int rows) {
    int outputs = 3;
    float[] scores = new float[rows * outputs];
    for (int r = 0; r < rows; r++) {
      scores[r * outputs + (r % outputs)] = 0.9f;
      scores[r * outputs + ((r + 1) % outputs)] = 0.1f;
    }
    KernelOutput out = new KernelOutput(outputs, false).reset(rows);
    System.arraycopy(scores, 0, out.scores(), 0, scores.length);
    try (RootAllocator root = new RootAllocator();
        VectorSchemaRoot resp = BridgeBatches.toResponse(out, root)) {
      IntVector label = (IntVector) resp.getVector("label");
      Float4Vector score = (Float4Vector) resp.getVector("score");
      float[] all = KernelCodec.readFloatList((FixedSizeListVector) resp.getVector("scores"), rows, outputs);
      assertArrayEquals(scores, all);
      for (int r = 0; r < rows; r++) {
        assertEquals(r % outputs, label.get(r));
        assertEquals(0.9f, score.get(r));
      }
    }
  }
}
