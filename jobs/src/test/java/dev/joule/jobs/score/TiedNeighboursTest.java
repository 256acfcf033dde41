package dev.joule.jobs.score;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.kernel.Similarity;
import dev.joule.bridge.kernel.TopKKernel;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.List;
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
    assertEquals(1.0, QualityGate.recallOfIds(exact, out, q, 0, List.of("a")));
    assertEquals(1.0, QualityGate.recallOfIds(exact, out, q, 0, List.of("a2")), "tied with the exact first");
    assertEquals(0.0, QualityGate.recallOfIds(exact, out, q, 0, List.of("near")));
    assertEquals(0.0, QualityGate.recallOfIds(exact, out, q, 0, List.of("unknown")));
  }

  @Test
  void tiedRowsCountOnlyAsOftenAsTheExactTopKHoldsThem() {
    // k = 3: exact {a, b, c}; c2 and c3 duplicate c. Published {a, c2, c3} missed b: 2 of 3.
    float[] refs = {
        1, 0, 0, // a
        0.9f, 0.4f, 0, // b
        0.7f, 0.7f, 0.1f, // c
        0.7f, 0.7f, 0.1f, // c2
        0.7f, 0.7f, 0.1f, // c3
        0, 0, 1}; // far
    TopKKernel exact = TopKKernel.fromReference(refs, 6, 3, List.of("a", "b", "c", "c2", "c3", "far"),
        Similarity.COSINE, 3, Precision.FP32, 1, null);
    EncodedRows q = EncodedRows.fp32(1, 3, new float[] {1, 0.1f, 0});
    KernelOutput out = exact.newOutput();
    exact.score(q, out, VectorOpsProvider.get());
    assertEquals(List.of("a", "b", "c"), List.of(exact.labels().get(out.indices()[0]),
        exact.labels().get(out.indices()[1]), exact.labels().get(out.indices()[2])));
    assertEquals(2.0 / 3, QualityGate.recallOfIds(exact, out, q, 0, List.of("a", "c2", "c3")),
        1e-9, "two duplicates of the 3rd do not stand in for the 2nd");
    assertEquals(1.0, QualityGate.recallOfIds(exact, out, q, 0, List.of("a", "b", "c3")),
        1e-9, "a duplicate of the 3rd is as right as the 3rd");
    assertEquals(2.0 / 3, QualityGate.recallOfIds(exact, out, q, 0, List.of("a", "b", "far")),
        1e-9);
  }

}
