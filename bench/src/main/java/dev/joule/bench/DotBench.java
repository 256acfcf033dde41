package dev.joule.bench;

import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.Dots;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.LinearKernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.apache.lucene.util.VectorUtil;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Rows per second of one 768-d query against every row of a block, per precision, with the rows
 * resident in DRAM (≥ 1 GiB of rows, far past every cache) or in cache (256 KiB). Each
 * invocation is one pass; the score is rows/s ({@code ops = rows}).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class DotBench {

  public static final int DIM = 768;
  public static final long DRAM_BYTES = 1L << 30;
  public static final long CACHE_BYTES = 256L << 10;

  /** Joule's kernels: the dot product (Hamming for binary) the top-k and linear kernels run. */
  @State(Scope.Benchmark)
  public static class JouleRows {
    @Param({"fp32", "int8", "int4", "binary"})
    public String precision;

    @Param({"dram", "cache"})
    public String residency;

    EncodedRows rows;
    EncodedRows query;
    int n;
    VectorOps ops;
    int[] hamming;

    @Setup(Level.Trial)
    public void setUp() {
      Precision p = Precision.parse(precision);
      hamming = p == Precision.BINARY ? new int[Rows.rowsFor(p, DIM, residency.equals("dram") ? DRAM_BYTES : CACHE_BYTES, 64)] : null;
      long bytes = residency.equals("dram") ? DRAM_BYTES : CACHE_BYTES;
      n = Rows.rowsFor(p, DIM, bytes, 64);
      rows = Rows.make(p, n, DIM, 1);
      // An int4 kernel takes int8 rows (W4A8); the others take rows at their own precision.
      query = Rows.make(p == Precision.INT4 ? Precision.INT8 : p, 1, DIM, 2);
      ops = VectorOpsProvider.get();
    }
  }

  /**
   * fp32, int8, int4: the dequantized dot product a linear, centroid or top-k kernel computes per
   * row. Binary: the Hamming scan binary top-k runs ({@code hammingMany} over the block).
   */
  @Benchmark
  public float joule(JouleRows s) {
    if (s.hamming != null) {
      int stride = s.rows.stride();
      s.ops.hammingMany(s.query.codes(), 0, s.rows.codes(), 0, stride, stride / 8, s.n, s.hamming);
      return s.hamming[s.n - 1];
    }
    float acc = 0;
    for (int j = 0; j < s.n; j++) {
      acc += Dots.dot(s.query, 0, s.rows, j, s.ops);
    }
    return acc;
  }

  /** Lucene's VectorUtil over one array per row, the layout Lucene uses. */
  @State(Scope.Benchmark)
  public static class LuceneRows {
    @Param({"fp32", "int8"})
    public String precision;

    @Param({"dram", "cache"})
    public String residency;

    float[][] floats;
    byte[][] bytes;
    float[] qf;
    byte[] qb;
    int n;

    @Setup(Level.Trial)
    public void setUp() {
      boolean fp32 = precision.equals("fp32");
      long budget = residency.equals("dram") ? DRAM_BYTES : CACHE_BYTES;
      n = (int) Math.max(64, budget / (fp32 ? 4L * DIM : DIM));
      SplittableRandom rnd = new SplittableRandom(3);
      if (fp32) {
        floats = new float[n][DIM];
        for (float[] r : floats) {
          for (int i = 0; i < DIM; i++) {
            r[i] = (float) rnd.nextGaussian();
          }
        }
        qf = floats[0].clone();
      } else {
        bytes = new byte[n][DIM];
        for (byte[] r : bytes) {
          rnd.nextBytes(r);
        }
        qb = bytes[0].clone();
      }
    }
  }

  @Benchmark
  public float lucene(LuceneRows s) {
    float acc = 0;
    if (s.floats != null) {
      for (int j = 0; j < s.n; j++) {
        acc += VectorUtil.dotProduct(s.qf, s.floats[j]);
      }
    } else {
      for (int j = 0; j < s.n; j++) {
        acc += VectorUtil.dotProduct(s.qb, s.bytes[j]);
      }
    }
    return acc;
  }

  /** The 10-class heads' weights: N(0,1), one seed. */
  static float[][] headWeights() {
    SplittableRandom rnd = new SplittableRandom(4);
    float[][] w = new float[10][DIM];
    for (float[] r : w) {
      for (int i = 0; i < DIM; i++) {
        r[i] = (float) rnd.nextGaussian();
      }
    }
    return w;
  }

  static java.util.List<String> headLabels() {
    return java.util.stream.IntStream.range(0, 10).mapToObj(Integer::toString).toList();
  }

  /** Scores every batch: one benchmark invocation of a head. */
  static float scoreAll(Kernel kernel, EncodedRows[] batches, KernelOutput out, VectorOps ops) {
    float acc = 0;
    for (EncodedRows b : batches) {
      kernel.score(b, out, ops);
      acc += out.scores()[0];
    }
    return acc;
  }

  /** Rows at {@code p} for the heads: half the DRAM budget, batches of 8,192. */
  static EncodedRows[] headBatches(Precision p) {
    int batch = 8192;
    int n = Rows.rowsFor(p, DIM, DRAM_BYTES / 2, batch);
    EncodedRows[] batches = new EncodedRows[(n + batch - 1) / batch];
    for (int b = 0; b < batches.length; b++) {
      batches[b] = Rows.make(p, Math.min(batch, n - b * batch), DIM, 10 + b);
    }
    return batches;
  }

  /** A 10-class softmax head over rows in DRAM, as score runs it (batches of 8,192 rows). */
  @State(Scope.Benchmark)
  public static class LinearHead {
    @Param({"fp32", "int8"})
    public String precision;

    Kernel kernel;
    EncodedRows[] batches;
    KernelOutput out;
    VectorOps ops;

    @Setup(Level.Trial)
    public void setUp() {
      Precision p = Precision.parse(precision);
      float[][] w = headWeights();
      java.util.List<String> labels = headLabels();
      kernel = LinearKernel.fromWeights(w, new float[10], labels, Activation.SOFTMAX, p);
      batches = headBatches(p);
      out = kernel.newOutput();
      ops = VectorOpsProvider.get();
    }
  }

  @Benchmark
  public float linearHead(LinearHead s) {
    return scoreAll(s.kernel, s.batches, s.out, s.ops);
  }

  /** The heads with their dots taken pair by pair (the kernels before blocking), same rows. */
  @State(Scope.Benchmark)
  public static class PairwiseHead {
    @Param({"fp32", "int8"})
    public String precision;

    Kernel kernel;
    EncodedRows[] batches;
    KernelOutput out;
    VectorOps ops;

    @Setup(Level.Trial)
    public void setUp() {
      Precision p = Precision.parse(precision);
      kernel = LinearKernel.fromWeights(headWeights(), new float[10], headLabels(), Activation.SOFTMAX, p)
          .withPairwiseDots();
      batches = headBatches(p);
      out = kernel.newOutput();
      ops = VectorOpsProvider.get();
    }
  }

  @Benchmark
  public float linearHeadPairwise(PairwiseHead s) {
    return scoreAll(s.kernel, s.batches, s.out, s.ops);
  }

  /**
   * The same head with its weights kept at fp32 against int8 rows (issue 17: what a codes table
   * with dimension scales is scored with), to compare with {@link #linearHead} at int8.
   */
  @State(Scope.Benchmark)
  public static class UnquantizedHead {
    Kernel kernel;
    Kernel pairwise;
    EncodedRows[] batches;
    KernelOutput out;
    VectorOps ops;

    @Setup(Level.Trial)
    public void setUp() {
      float[][] w = headWeights();
      java.util.List<String> labels = headLabels();
      kernel = LinearKernel.fromWeights(w, new float[10], labels, Activation.SOFTMAX, Precision.INT8,
          dev.joule.bridge.kernel.WeightScaling.UNQUANTIZED);
      pairwise = ((LinearKernel) kernel).withPairwiseDots();
      batches = headBatches(Precision.INT8);
      out = kernel.newOutput();
      ops = VectorOpsProvider.get();
    }
  }

  @Benchmark
  public float linearHeadUnquantized(UnquantizedHead s) {
    return scoreAll(s.kernel, s.batches, s.out, s.ops);
  }

  @Benchmark
  public float linearHeadUnquantizedPairwise(UnquantizedHead s) {
    return scoreAll(s.pairwise, s.batches, s.out, s.ops);
  }

  /**
   * The same head with column-channel weight scaling (issue 17: heads fitted on raw features),
   * which takes fp32 rows: int8 or int4 codes, per-column scales folded into the rows.
   */
  @State(Scope.Benchmark)
  public static class ColumnScaledHead {
    @Param({"int8", "int4"})
    public String precision;

    Kernel kernel;
    EncodedRows[] batches;
    KernelOutput out;
    VectorOps ops;

    @Setup(Level.Trial)
    public void setUp() {
      float[][] w = headWeights();
      java.util.List<String> labels = headLabels();
      kernel = LinearKernel.fromWeights(w, new float[10], labels, Activation.SOFTMAX, Precision.parse(precision),
          dev.joule.bridge.kernel.WeightScaling.COLUMN_CHANNEL);
      batches = headBatches(kernel.queryPrecision());
      out = kernel.newOutput();
      ops = VectorOpsProvider.get();
    }
  }

  @Benchmark
  public float linearHeadColumnScaled(ColumnScaledHead s) {
    return scoreAll(s.kernel, s.batches, s.out, s.ops);
  }
}
