package dev.joule.jobs.score;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.kernel.Similarity;
import dev.joule.bridge.kernel.TopKKernel;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.junit.jupiter.api.Test;

/** The gate's recall@k counts a neighbour tied with the exact k-th as found (duplicate rows). */
class TiedNeighboursTest {

  @Test
  void aDuplicateOfAnExactNeighbourCountsAndAFartherRowDoesNot() {
    float[] v = {1, 0, 0, 0};
    float[] refs = {
        1, 0.1f, 0, 0, // a
        1, 0.1f, 0, 0, // a again (a duplicated description)
        0.9f, 0.5f, 0, 0, // near
        0, 0, 1, 0}; // far
    TopKKernel exact = TopKKernel.fromReference(refs, 4, 4, List.of("a", "a2", "near", "far"), Similarity.COSINE, 1,
        Precision.FP32, 1, null);
    EncodedRows q = EncodedRows.fp32(1, 4, v);
    KernelOutput out = exact.newOutput();
    exact.score(q, out, VectorOpsProvider.get());
    assertEquals("a", exact.labels().get(out.indices()[0]), "ties keep the earlier row");
    assertEquals(1.0, QualityGate.recall(exact, out, q, 0, List.of(neighbour("a"))));
    assertEquals(1.0, QualityGate.recall(exact, out, q, 0, List.of(neighbour("a2"))), "tied with the exact first");
    assertEquals(0.0, QualityGate.recall(exact, out, q, 0, List.of(neighbour("near"))));
    assertEquals(0.0, QualityGate.recall(exact, out, q, 0, List.of(neighbour("unknown"))));
  }

  static Row neighbour(String id) {
    return RowFactory.create(id, 0.5f);
  }
}
