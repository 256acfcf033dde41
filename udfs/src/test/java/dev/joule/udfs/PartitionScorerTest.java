package dev.joule.udfs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.energy.OpsBytesModel;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.LinearKernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.kernel.Similarity;
import dev.joule.bridge.kernel.TopKKernel;
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

  static final EnergySpec ENERGY = new EnergySpec(
      List.of(new PowerProfile("generic", "", true, 1, 2, 3, 0.4, "test")),
      new OpsBytesModel(4.6, 0.3, 3.7, 162.5, 325, 1.25, 12.5, "test"), 2);

  static ScoringSpec spec(Kernel k, int batchRows) {
    return spec(k, batchRows, EmbeddingColumn.Layout.ARRAY_FLOAT, null);
  }

  static ScoringSpec spec(Kernel k, int batchRows, EmbeddingColumn.Layout layout, Precision rows) {
    return new ScoringSpec("run-1", "score", KernelInfo.of(k, rows), IdColumn.LONG, layout,
        batchRows, 1 << 20, true, ENERGY, -1, null);
  }

  static List<Row> run(ScoringSpec spec, List<InternalRow> in) {
    try (InProcessAcceleratorNode node = new InProcessAcceleratorNode("t", ScalarVectorOps.INSTANCE)) {
      List<Row> out = new ArrayList<>();
      new PartitionScorer.Scoring(spec, in.iterator(), new dev.joule.bridge.node.InProcessTransport(node), null).forEachRemaining(out::add);
      return out;
    }
  }

  static List<InternalRow> randomRows(int n, long seed, Map<Long, float[]> keep) {
    SplittableRandom rnd = new SplittableRandom(seed);
    List<InternalRow> in = new ArrayList<>();
    for (long id = 0; id < n; id++) {
      Object[] v = new Object[DIM];
      float[] f = new float[DIM];
      for (int i = 0; i < DIM; i++) {
        f[i] = (float) rnd.nextGaussian();
        v[i] = f[i];
      }
      keep.put(id, f);
      in.add(new GenericInternalRow(new Object[] {id, new GenericArrayData(v)}));
    }
    return in;
  }

  @Test
  void topkEmitsNeighboursBestFirstWithReferenceIds() {
    Map<Long, float[]> rows = new HashMap<>();
    List<InternalRow> in = randomRows(40, 9, rows);
    float[] ref = new float[40 * DIM];
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      System.arraycopy(rows.get((long) i), 0, ref, i * DIM, DIM);
      ids.add("ref-" + i);
    }
    Kernel k = TopKKernel.fromReference(ref, 40, DIM, ids, Similarity.COSINE, 3, Precision.BINARY, 4, Precision.INT8);
    for (Row r : run(spec(k, 16), in)) {
      if (!r.getString(0).equals(StagedRows.PREDICTION)) {
        continue;
      }
      Row[] nb = (Row[]) r.get(5);
      assertEquals(3, nb.length);
      // Each row is in the reference set, so its own id is its nearest neighbour (cosine 1).
      assertEquals("ref-" + r.getLong(1), nb[0].getString(0));
      assertEquals(nb[0].getString(0), r.getString(2));
      assertTrue(nb[0].getFloat(1) >= nb[1].getFloat(1) && nb[1].getFloat(1) >= nb[2].getFloat(1));
    }
  }

  @Test
  void codesInputScoresExactlyLikeOnTheFlyQuantization() {
    Map<Long, float[]> rows = new HashMap<>();
    List<InternalRow> in = randomRows(300, 4, rows);
    float[][] w = new float[CLASSES][];
    for (int j = 0; j < CLASSES; j++) {
      w[j] = rows.get((long) j);
    }
    for (Precision p : new Precision[] {Precision.INT8, Precision.INT4}) {
      Kernel k = LinearKernel.fromWeights(w, new float[CLASSES], List.of("a", "b", "c", "d"), Activation.SOFTMAX, p);
      List<InternalRow> codes = new ArrayList<>();
      for (InternalRow r : in) {
        long id = r.getLong(0);
        EncodedRows e = EncodedRows.encode(p, 1, DIM, rows.get(id));
        codes.add(new GenericInternalRow(new Object[] {id, java.util.Arrays.copyOf(e.codes(), e.stride()),
            e.scales()[0], e.norms()[0]}));
      }
      // Rows encoded at the codes' precision on the fly (int4 kernels otherwise take int8 rows).
      List<Row> a = run(spec(k, 64, EmbeddingColumn.Layout.ARRAY_FLOAT, p), in);
      List<Row> b = run(spec(k, 64, null, p), codes);
      assertEquals(a.size(), b.size());
      for (int i = 0; i < a.size() - 1; i++) {
        assertEquals(a.get(i).get(1), b.get(i).get(1));
        assertArrayEquals((float[]) a.get(i).get(4), (float[]) b.get(i).get(4), p + " row " + i);
      }
      long floatBytes = a.get(a.size() - 1).getStruct(7).<Long>getAs("bytes_read");
      long codeBytes = b.get(b.size() - 1).getStruct(7).<Long>getAs("bytes_read");
      assertEquals(300L * 4 * DIM, floatBytes);
      assertEquals(300L * (p.rowBytes(DIM) + 8), codeBytes, "codes + scale + norm are read, not floats");
    }
  }

  /** Finite values near the float limit overflow the fp32 kernel: a reject with its reason, never a NaN score. */
  @Test
  void aRowWhoseScoreIsNotFiniteIsARejectNotANaNPrediction() {
    float[][] w = new float[CLASSES][DIM];
    for (int c = 0; c < CLASSES; c++) {
      w[c][c] = c + 1;
    }
    LinearKernel k = LinearKernel.fromWeights(w, new float[CLASSES], List.of("a", "b", "c", "d"),
        Activation.SOFTMAX, Precision.FP32);
    Map<Long, float[]> keep = new HashMap<>();
    List<InternalRow> in = new ArrayList<>(randomRows(10, 3, keep));
    for (float big : new float[] {1e38f, 2e38f, 3e38f}) {
      Object[] v = new Object[DIM];
      for (int i = 0; i < DIM; i++) {
        v[i] = big;
      }
      in.add(new GenericInternalRow(new Object[] {(long) in.size(), new GenericArrayData(v)}));
    }
    List<Row> out = run(spec(k, 4), in);
    List<Row> rejects = out.stream().filter(r -> r.getString(0).equals(StagedRows.REJECT)).toList();
    assertEquals(3, rejects.size());
    assertTrue(rejects.stream().allMatch(r -> r.getString(6).startsWith("non_finite_score:")), rejects.toString());
    assertTrue(out.stream().filter(r -> r.getString(0).equals(StagedRows.PREDICTION))
        .allMatch(r -> Float.isFinite(r.getFloat(3))));
    Row e = out.get(out.size() - 1).getStruct(7);
    assertEquals(13L, (long) e.getAs("rows_in"));
    assertEquals(10L, (long) e.getAs("rows_scored"));
    assertEquals(3L, (long) e.getAs("rows_rejected"));
  }

  @Test
  void everyRowOfADuplicatedIdIsARejectAndNoneReachesTheKernel() {
    Map<Long, float[]> keep = new HashMap<>();
    List<InternalRow> in = randomRows(12, 4, keep);
    LinearKernel k = LinearKernel.fromWeights(new float[][] {keep.get(0L), keep.get(1L)}, new float[2],
        List.of("a", "b"), Activation.SOFTMAX, Precision.INT8);
    ScoringSpec plain = spec(k, 5);
    ScoringSpec s = new ScoringSpec(plain.runId(), plain.job(), plain.kernel(), plain.idColumn(), plain.layout(),
        plain.batchRows(), plain.maxBatchBytes(), plain.keepScores(), plain.energy(), -1, null, null, 0, null,
        new DuplicateIds(Map.of(3L, 2L, 7L, 4L)));
    List<Row> out = run(s, in);
    List<Row> rejects = out.stream().filter(r -> r.getString(0).equals(StagedRows.REJECT)).toList();
    assertEquals(List.of(3L, 7L), rejects.stream().map(r -> r.getLong(1)).toList());
    assertEquals("duplicate_id: id 7 is on 4 rows of the input; none of them is scored", rejects.get(1).getString(6));
    assertEquals(10, out.stream().filter(r -> r.getString(0).equals(StagedRows.PREDICTION)).count());
    Row e = out.get(out.size() - 1).getStruct(7);
    assertEquals(12L, (long) e.getAs("rows_in"));
    assertEquals(2L, (long) e.getAs("rows_rejected"));
    assertEquals(10L, (long) e.getAs("rows_scored"));
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
    if (precision == Precision.BINARY) {
      return; // no binary linear kernel
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
      PartitionScorer.Scoring it = new PartitionScorer.Scoring(spec(k, 128), in.iterator(), new dev.joule.bridge.node.InProcessTransport(node), null);
      List<Row> out = new ArrayList<>();
      it.forEachRemaining(out::add);

      long predictions = out.stream().filter(r -> r.getString(0).equals(StagedRows.PREDICTION)).count();
      List<Row> rejects = out.stream().filter(r -> r.getString(0).equals(StagedRows.REJECT)).toList();
      List<Row> energy = out.stream().filter(r -> r.getString(0).equals(StagedRows.ENERGY)).toList();
      assertEquals(1000, predictions);
      assertEquals(List.of("null_id", "null_embedding", "wrong_dim"),
          rejects.stream().map(r -> r.getString(6).split(":")[0]).toList());
      assertEquals(1, energy.size());
      assertEquals(StagedRows.ENERGY, out.get(out.size() - 1).getString(0), "energy row comes last");

      Row e = energy.get(0).getStruct(7);
      assertEquals(1003L, (long) e.getAs("rows_in"));
      assertEquals(1000L, (long) e.getAs("rows_scored"));
      assertEquals(3L, (long) e.getAs("rows_rejected"));
      assertEquals(8, (int) e.getAs("batches")); // ceil(1000 / 128)
      assertTrue(e.<Long>getAs("thread_cpu_ns") > 0);
      // Executors hand Spark a Row[]; Spark turns it into array<struct> when encoding.
      List<Row> figures = List.of((Row[]) e.get(e.fieldIndex("energy")));
      assertEquals(List.of("estimated_cputime:cpu", "estimated_cputime:dram_background", "estimated_cputime:dram_traffic",
              "modelled_ops_bytes:cpu", "modelled_ops_bytes:dram"),
          figures.stream().map(f -> f.<String>getAs("method") + ":" + f.<String>getAs("component")).toList());
      // The staged path does not know the bytes Spark writes later: null, not 0.
      assertTrue(e.isNullAt(e.fieldIndex("bytes_written")));
      assertTrue(e.<Double>getAs("memory_gb_attributed") > 0, "the machine's memory per vCPU");

      // Each prediction equals the kernel's own answer on that row.
      for (Row r : out) {
        if (!r.getString(0).equals(StagedRows.PREDICTION)) {
          continue;
        }
        KernelOutput expected = k.newOutput();
        k.score(EncodedRows.encode(k.queryPrecision(), 1, DIM, good.get(r.getLong(1))), expected, ScalarVectorOps.INSTANCE);
        assertArrayEquals(java.util.Arrays.copyOf(expected.scores(), CLASSES), (float[]) r.get(4), 1e-6f);
      }
    }
    assertEquals(0, PartitionScorer.rootAllocator().getAllocatedMemory(), "every Arrow buffer released");
  }

  @Test
  void batchRowsAreLoweredToStayUnderTheByteBound() {
    LinearKernel k = LinearKernel.fromWeights(new float[][] {new float[DIM]}, new float[1],
        List.of("x"), Activation.RAW, Precision.FP32);
    ScoringSpec s = spec(k, 100_000);
    assertEquals((1 << 20) / (4 * DIM + 8), s.effectiveBatchRows());
  }

  @Test
  void aMeasuredMeterAddsItsFiguresToTheEnergyRow() {
    dev.joule.bridge.energy.meter.SteppingCounter counter = new dev.joule.bridge.energy.meter.SteppingCounter(2);
    ExecutorMeters.install(counter);
    try {
      Map<Long, float[]> rows = new HashMap<>();
      List<InternalRow> in = randomRows(50, 3, rows);
      Kernel k = LinearKernel.fromWeights(new float[][] {rows.get(0L), rows.get(1L)}, new float[2],
          List.of("a", "b"), Activation.SOFTMAX, Precision.INT8);
      List<Row> out = run(spec(k, 16), in);
      Row energy = out.get(out.size() - 1).getStruct(7);
      List<Row> figures = List.of((Row[]) energy.get(energy.fieldIndex("energy")));
      List<Row> measured = figures.stream().filter(f -> f.getString(1).equals("measured_rapl")).toList();
      // Read at the partition's start and at its energy row: one step of 2 J + 0.5 J. The task
      // thread's share of the process CPU is the partition's; the rest stays unattributed.
      assertEquals(2, counter.reads());
      for (String c : List.of("cpu", "dram")) {
        double share = measured.stream().filter(f -> f.getString(0).equals(c) && f.getString(2).equals("cpu_time_share"))
            .mapToDouble(f -> f.getDouble(3)).sum();
        double all = measured.stream().filter(f -> f.getString(0).equals(c)).mapToDouble(f -> f.getDouble(3)).sum();
        assertTrue(share > 0 && share <= all, c + ": " + measured);
        assertEquals(c.equals("cpu") ? 2.0 : 0.5, all, 1e-9, c + ": share + rest = measured");
      }
      assertTrue(measured.stream().allMatch(f -> List.of("cpu_time_share", "unattributed").contains(f.getString(2))));
      assertTrue(energy.<Boolean>getAs("hw_rapl_available"));
      String gpu = energy.getAs("hw_gpu_model");
      assertTrue(gpu.startsWith("none found (") || gpu.contains(", driver "), "GPUs probed through NVML: " + gpu);
      assertTrue(figures.stream().anyMatch(f -> f.getString(1).equals("estimated_cputime")),
          "the estimate is still recorded beside the measurement");
    } finally {
      ExecutorMeters.install(null);
    }
  }

  @Test
  void meterRaplWhereNoneCanBeReadFailsWithTheReason() {
    ExecutorMeters.install(dev.joule.bridge.energy.meter.RaplMeter.open(java.nio.file.Path.of("/nonexistent-powercap")));
    try {
      Map<Long, float[]> rows = new HashMap<>();
      List<InternalRow> in = randomRows(5, 3, rows);
      Kernel k = LinearKernel.fromWeights(new float[][] {rows.get(0L), rows.get(1L)}, new float[2],
          List.of("a", "b"), Activation.SOFTMAX, Precision.INT8);
      EnergySpec forced = new EnergySpec(ENERGY.powerProfiles(), ENERGY.opsBytes(), 2, "rapl");
      ScoringSpec s = new ScoringSpec("run-1", "score", KernelInfo.of(k, null), IdColumn.LONG,
          EmbeddingColumn.Layout.ARRAY_FLOAT, 16, 1 << 20, true, forced, -1, null);
      IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> run(s, in));
      assertTrue(e.getMessage().startsWith("joule.energy.meter = rapl, but this executor cannot read it: RAPL unavailable: no /nonexistent-powercap"),
          e.getMessage());
      // auto on the same machine: estimates only, no error.
      List<Row> out = run(spec(k, 16), in);
      Row energy = out.get(out.size() - 1).getStruct(7);
      assertTrue(java.util.Arrays.stream((Row[]) energy.get(energy.fieldIndex("energy")))
          .noneMatch(f -> f.getString(1).startsWith("measured")));
      org.junit.jupiter.api.Assertions.assertFalse(energy.<Boolean>getAs("hw_rapl_available"));
    } finally {
      ExecutorMeters.install(null);
    }
  }
}
