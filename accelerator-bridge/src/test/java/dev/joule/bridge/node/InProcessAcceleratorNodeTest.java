package dev.joule.bridge.node;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.LinearKernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.vector.ScalarVectorOps;
import java.util.List;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.junit.jupiter.api.Test;

class InProcessAcceleratorNodeTest {

  final LinearKernel kernel = LinearKernel.fromWeights(
      new float[][] {{1, 0, 0}, {0, 1, 0}}, new float[] {0, 0}, List.of("a", "b"),
      Activation.SOFTMAX, Precision.INT8);

  @Test
  void pushIsIdempotentAndScoringMatchesTheKernel() {
    byte[] bytes = KernelCodec.encode(kernel);
    try (InProcessAcceleratorNode node = new InProcessAcceleratorNode("n1", ScalarVectorOps.INSTANCE);
        RootAllocator alloc = new RootAllocator()) {
      String id = node.pushKernel(bytes);
      assertEquals(id, node.pushKernel(bytes));
      assertEquals(KernelCodec.kernelId(bytes), id);
      assertTrue(node.hasKernel(id));

      float[] x = {3, 1, 0, 0, 2, 5};
      EncodedRows rows = EncodedRows.encode(Precision.INT8, 2, 3, x);
      KernelOutput out = kernel.newOutput();
      kernel.score(rows, out, ScalarVectorOps.INSTANCE);
      float[] expected = java.util.Arrays.copyOf(out.scores(), 4);
      try (VectorSchemaRoot req = BridgeBatches.toRequest(rows, alloc);
          ScoreReply reply = node.score(id, req, alloc)) {
        assertArrayEquals(expected,
            KernelCodec.readFloatList((FixedSizeListVector) reply.scores().getVector("scores"), 2, 2));
        assertEquals("n1", reply.reading().nodeId());
        assertEquals(2, reply.reading().rows());
        assertEquals(rows.payloadBytes(), reply.reading().bytesIn());
      }
      assertEquals(0, alloc.getAllocatedMemory());
    }
  }

  @Test
  void unknownKernelIsAClearError() {
    try (InProcessAcceleratorNode node = new InProcessAcceleratorNode("n2", ScalarVectorOps.INSTANCE);
        RootAllocator alloc = new RootAllocator();
        VectorSchemaRoot req = BridgeBatches.toRequest(
            EncodedRows.encode(Precision.INT8, 1, 3, new float[3]), alloc)) {
      assertFalse(node.hasKernel("abc"));
      UnknownKernelException e = assertThrows(UnknownKernelException.class,
          () -> node.score("abc", req, alloc));
      assertTrue(e.getMessage().contains("push it first"));
    }
  }
}
