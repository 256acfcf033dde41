package dev.joule.bridge.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.vector.ScalarVectorOps;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every kernel at every precision it supports, Vector API against the scalar reference, at the
 * awkward dims, on random rows plus extreme rows (zeros, all at +max, all at -max, alternating).
 * Quantized kernels accumulate exactly in integers, so their outputs must be identical; fp32
 * ones may differ by summation order only.
 */
class KernelsVsScalarTest {

  static final int[] DIMS = {1, 7, 15, 16, 17, 63, 64, 65, 383, 384, 768, 1023, 1024, 1536};
  static final VectorOps SCALAR = ScalarVectorOps.INSTANCE;
  static final VectorOps PANAMA = VectorOpsProvider.panamaOrNull();

  record Case(String name, Precision precision, Function<Integer, Kernel> build) {
    @Override
    public String toString() {
      return name + "@" + precision;
    }
  }

  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    for (Precision p : Precision.values()) {
      if (p != Precision.BINARY) {
        out.add(Arguments.of(new Case("linear", p, dim -> LinearKernel.fromWeights(
            matrix(dim, 5, dim), new float[5], labels(5), Activation.SOFTMAX, p))));
        if (p.quantized()) {
          out.add(Arguments.of(new Case("linear-column-channel", p, dim -> LinearKernel.fromWeights(
              matrix(dim, 5, dim), vec(dim + 5, 5), labels(5), Activation.SOFTMAX, p, WeightScaling.COLUMN_CHANNEL))));
        }
        if (p.quantized()) {
          out.add(Arguments.of(new Case("mlp-column-channel", p, dim -> MlpKernel.fromWeights(matrix(dim, 8, dim),
              vec(dim + 1, 8), matrix(dim + 2, 3, 8), vec(dim + 3, 3), labels(3), Activation.SOFTMAX,
              MlpKernel.Hidden.RELU, p, WeightScaling.COLUMN_CHANNEL))));
        }
        out.add(Arguments.of(new Case("mlp", p, dim -> MlpKernel.fromWeights(matrix(dim, 8, dim),
            vec(dim + 1, 8), matrix(dim + 2, 3, 8), vec(dim + 3, 3), labels(3), Activation.SOFTMAX, p))));
      }
      for (Similarity m : Similarity.values()) {
        out.add(Arguments.of(new Case("centroid-" + m.label(), p, dim -> CentroidKernel.fromCentroids(
            matrix(dim, 6, dim), labels(6), m, p))));
        out.add(Arguments.of(new Case("topk-" + m.label(), p, dim -> TopKKernel.fromReference(
            flat(matrix(dim, 50, dim)), 50, dim, labels(50), m, 5, p, 3, null))));
      }
    }
    out.add(Arguments.of(new Case("topk-rescore-int8", Precision.BINARY, dim -> TopKKernel.fromReference(
        flat(matrix(dim, 50, dim)), 50, dim, labels(50), Similarity.COSINE, 5, Precision.BINARY, 4, Precision.INT8))));
    out.add(Arguments.of(new Case("topk-rescore-int8", Precision.INT4, dim -> TopKKernel.fromReference(
        flat(matrix(dim, 50, dim)), 50, dim, labels(50), Similarity.COSINE, 5, Precision.INT4, 2, Precision.INT8))));
    out.add(Arguments.of(new Case("topk-rescore-fp32", Precision.BINARY, dim -> TopKKernel.fromReference(
        flat(matrix(dim, 50, dim)), 50, dim, labels(50), Similarity.DOT, 5, Precision.BINARY, 4, Precision.FP32))));
    return out.stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void vectorApiEqualsScalarReference(Case c) {
    assertNotNull(PANAMA, "Vector API implementation did not load in the test JVM");
    for (int dim : DIMS) {
      Kernel k = c.build().apply(dim);
      int rows = 24;
      float[] x = flat(matrix(dim * 7L, rows, dim));
      // Extreme rows: zeros, all +max, all -max, alternating signs at max magnitude.
      for (int i = 0; i < dim; i++) {
        x[i] = 0f;
        x[dim + i] = 1e4f;
        x[2 * dim + i] = -1e4f;
        x[3 * dim + i] = i % 2 == 0 ? 1e4f : -1e4f;
      }
      // Column-channel kernels also read int8 rows (an int8 codes table) when they are int4.
      java.util.Set<Precision> queries = java.util.EnumSet.of(k.queryPrecision(), k.precision());
      if (c.name().contains("column")) {
        queries.add(Precision.INT8);
      }
      for (Precision qp : queries) {
        compare(c, k, dim, rows, x, qp);
      }
    }
  }

  /** Scalar vs Vector API for one query encoding (int4 kernels take int8 or int4 rows). */
  private static void compare(Case c, Kernel k, int dim, int rows, float[] x, Precision qp) {
    {
      EncodedRows in = EncodedRows.encode(qp, rows, dim, x);
      if (k.rescorePrecision() != null) {
        in = in.withRescore(EncodedRows.encode(k.rescorePrecision(), rows, dim, x));
      }
      KernelOutput ref = k.newOutput();
      KernelOutput vec = k.newOutput();
      k.score(in, ref, SCALAR);
      k.score(in, vec, PANAMA);
      float[] a = Arrays.copyOf(ref.scores(), rows * k.width());
      float[] b = Arrays.copyOf(vec.scores(), rows * k.width());
      // fp32 sums (fp32 kernels, fp32 rescoring, column-channel's fp32 activations) may differ
      // by summation order; integer ones must be identical.
      // Int4 heads and centroids rescore their near ties at fp32 (NearTies), and int4 kernels may
      // choose column-channel weights: fp32 sums too.
      boolean nearTies = k instanceof LinearKernel l && l.nearTies() != null
          || k instanceof CentroidKernel ck && ck.nearTies() != null;
      // Not Kernel.fp32Arithmetic: a per-channel int8 head multiplies in fp32 FMAs (the energy
      // model's flag) and must still be exact.
      boolean fp32Sums = k instanceof LinearKernel l ? l.scaledWeights().fp32Arithmetic() : k.fp32Arithmetic();
      if (k.precision() == Precision.FP32 || c.name().endsWith("fp32") || fp32Sums || nearTies) {
        for (int i = 0; i < a.length; i++) {
          assertEquals(a[i], b[i], 1e-3f * Math.max(1f, Math.abs(a[i])), c + " dim " + dim + " at " + i);
        }
      } else {
        assertArrayEquals(a, b, c + " dim " + dim);
        if (k.neighbors()) {
          assertArrayEquals(Arrays.copyOf(ref.indices(), rows * k.width()),
              Arrays.copyOf(vec.indices(), rows * k.width()), c + " dim " + dim);
        }
      }
      for (float v : a) {
        assertTrue(Float.isFinite(v), c + " dim " + dim + " produced " + v);
      }
      if (nearTies && !k.fp32Arithmetic() && !c.name().endsWith("fp32")) {
        // The integer pass under the rescoring stays bit-exact.
        Kernel plain = k instanceof LinearKernel l ? l.withoutNearTies() : ((CentroidKernel) k).withoutNearTies();
        KernelOutput pr = plain.newOutput();
        KernelOutput pv = plain.newOutput();
        plain.score(in, pr, SCALAR);
        plain.score(in, pv, PANAMA);
        assertArrayEquals(Arrays.copyOf(pr.scores(), rows * k.width()), Arrays.copyOf(pv.scores(), rows * k.width()),
            c + " dim " + dim + " without near ties");
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void codecRoundTripKeepsBytesIdsAndAnswers(Case c) {
    Kernel k = c.build().apply(65);
    byte[] bytes = KernelCodec.encode(k);
    Kernel back = KernelCodec.decode(bytes);
    assertArrayEquals(bytes, KernelCodec.encode(back));
    assertEquals(KernelCodec.kernelId(bytes), KernelCodec.kernelId(KernelCodec.encode(c.build().apply(65))));
    assertEquals(k.displayName(), back.displayName());
    float[] x = flat(matrix(99, 9, 65));
    EncodedRows in = EncodedRows.encode(k.queryPrecision(), 9, 65, x);
    if (k.rescorePrecision() != null) {
      in = in.withRescore(EncodedRows.encode(k.rescorePrecision(), 9, 65, x));
    }
    KernelOutput o1 = k.newOutput();
    KernelOutput o2 = back.newOutput();
    k.score(in, o1, PANAMA);
    back.score(in, o2, PANAMA);
    assertArrayEquals(Arrays.copyOf(o1.scores(), 9 * k.width()), Arrays.copyOf(o2.scores(), 9 * k.width()));
  }

  static float[][] matrix(long seed, int rows, int dim) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[][] m = new float[rows][dim];
    for (float[] r : m) {
      for (int i = 0; i < dim; i++) {
        r[i] = (float) rnd.nextGaussian();
      }
    }
    return m;
  }

  static float[] vec(long seed, int n) {
    return matrix(seed, 1, n)[0];
  }

  static float[] flat(float[][] m) {
    float[] f = new float[m.length * m[0].length];
    for (int r = 0; r < m.length; r++) {
      System.arraycopy(m[r], 0, f, r * m[0].length, m[0].length);
    }
    return f;
  }

  static List<String> labels(int n) {
    List<String> l = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      l.add("r" + i);
    }
    return l;
  }
}
