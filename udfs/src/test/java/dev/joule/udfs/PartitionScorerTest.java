package dev.joule.udfs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.energy.OpsBytesModel;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.kernel.LinearKernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.node.InProcessAcceleratorNode;
import dev.joule.bridge.vector.ScalarVectorOps;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.util.GenericArrayData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The partition scorer on plain rows (no Spark session): every row out once, energy at the end. */
class PartitionScorerTest {

  static final int DIM = 23;
  static final int CLASSES = 4;

  static ScoringSpec spec(LinearKernel k, int batchRows) {
    byte[] bytes = KernelCodec.encode(k);
    EnergySpec energy = new EnergySpec(
        List.of(new PowerProfile("generic", "", true, 1, 2, 3, 0.4, "test")),
        new OpsBytesModel(4.6, 0.3, 3.7, 162.5, 325, 1.25, 12.5, "test"), 2);
    return new ScoringSpec("run-1", "score", bytes, KernelCodec.kernelId(bytes), k.displayName(),
        k.labels(), k.precision(), DIM, IdColumn.LONG, EmbeddingColumn.Layout.ARRAY_FLOAT,
        batchRows, 1 << 20, true, energy, -1);
  }

  @ParameterizedTest
  @EnumSource(Precision.class)
  void scoresGoodRowsRejectsBadOnesAndEndsWithOneEnergyRow(Precision precision) {
    SplittableRandom rnd = new SplittableRandom(5);
    float[][] w = new float[CLASSES][DIM];
    for (float[] r : w) {
      for (int i = 0; i < DIM; i++) {
        r[i] = (float) rnd.nextGaussian();
      }
    }
    LinearKernel k = LinearKernel.fromWeights(w, new float[CLASSES], List.of("a", "b", "c", "d"),
        Activation.SOFTMAX, precision);
    List<InternalRow> in = new ArrayList<>();
    Map<Long, float[]> good = new HashMap<>();
    for (long id = 0; id < 1000; id++) {
      Object[] v = new Object[DIM];
      float[] f = new float[DIM];
      for (int i = 0; i < DIM; i++) {
        f[i] = (float) rnd.nextGaussian();
        v[i] = f[i];
      }
      good.put(id, f);
      in.add(new GenericInternalRow(new Object[] {id, new GenericArrayData(v)}));
    }
    in.add(new GenericInternalRow(new Object[] {null, new GenericArrayData(new Object[DIM])}));
    in.add(new GenericInternalRow(new Object[] {2000L, null}));
    in.add(new GenericInternalRow(new Object[] {2001L, new GenericArrayData(new Object[] {1f})}));

    try (InProcessAcceleratorNode node = new InProcessAcceleratorNode("t", ScalarVectorOps.INSTANCE)) {
      PartitionScorer.Scoring it = new PartitionScorer.Scoring(spec(k, 128), in.iterator(), node, null);
      List<Row> out = new ArrayList<>();
      it.forEachRemaining(out::add);

      long predictions = out.stream().filter(r -> r.getString(0).equals(StagedRows.PREDICTION)).count();
      List<Row> rejects = out.stream().filter(r -> r.getString(0).equals(StagedRows.REJECT)).toList();
      List<Row> energy = out.stream().filter(r -> r.getString(0).equals(StagedRows.ENERGY)).toList();
      assertEquals(1000, predictions);
      assertEquals(List.of("null_id", "null_embedding", "wrong_dim"),
          rejects.stream().map(r -> r.getString(5).split(":")[0]).toList());
      assertEquals(1, energy.size());
      assertEquals(StagedRows.ENERGY, out.get(out.size() - 1).getString(0), "energy row comes last");

      Row e = energy.get(0).getStruct(6);
      assertEquals(1003L, (long) e.getAs("rows_in"));
      assertEquals(1000L, (long) e.getAs("rows_scored"));
      assertEquals(3L, (long) e.getAs("rows_rejected"));
      assertEquals(8, (int) e.getAs("batches")); // ceil(1000 / 128)
      assertTrue(e.<Long>getAs("thread_cpu_ns") > 0);
      // Executors hand Spark a Row[]; Spark turns it into array<struct> when encoding.
      List<Row> figures = List.of((Row[]) e.get(e.fieldIndex("energy")));
      assertEquals(List.of("estimated_cputime", "estimated_cputime", "modelled_ops_bytes", "modelled_ops_bytes"),
          figures.stream().map(f -> f.<String>getAs("method")).toList());

      // Each prediction equals the kernel's own answer on that row.
      for (Row r : out) {
        if (!r.getString(0).equals(StagedRows.PREDICTION)) {
          continue;
        }
        float[] expected = new float[CLASSES];
        k.score(EncodedRows.encode(precision, 1, DIM, good.get(r.getLong(1))), expected, ScalarVectorOps.INSTANCE);
        assertArrayEquals(expected, (float[]) r.get(4), 1e-6f);
      }
    }
    assertEquals(0, PartitionScorer.rootAllocator().getAllocatedMemory(), "every Arrow buffer released");
  }

  @Test
  void batchRowsAreLoweredToStayUnderTheByteBound() {
    LinearKernel k = LinearKernel.fromWeights(new float[][] {new float[DIM]}, new float[1],
        List.of("x"), Activation.RAW, Precision.FP32);
    ScoringSpec s = spec(k, 100_000);
    assertEquals((1 << 20) / (4 * DIM), s.effectiveBatchRows());
  }
}
