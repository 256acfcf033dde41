package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Per-row time of the linear kernel, per-channel against column-channel, at int8 and int4, in one
 * process (not JMH; bench/ holds the JMH kernels). A report: it prints, never asserts. Per
 * scaling: the kernel alone on the rows it takes, and with the row encoding the executor does
 * before it (per-channel: fp32 → int8 rows; column-channel takes fp32 rows as they are).
 * Fastest of 25 timed passes over 4,096 rows after warm-up (the fastest, not the median: the
 * machine is shared, and contention only ever adds time). Run with the Vector API module.
 */
final class LinearKernelCostReport {

  public static void main(String[] args) {
    VectorOps ops = VectorOpsProvider.get();
    System.out.println("ops: " + ops.name());
    System.out.printf("%-6s %5s %7s | %-34s | %-34s%n", "prec", "dim", "classes", "per-channel ns/row: kernel, +encode",
        "column-channel ns/row: fp32 rows, int8 rows");
    int[] dims = args.length > 0 ? Arrays.stream(args[0].split(",")).mapToInt(Integer::parseInt).toArray()
        : new int[] {64, 256, 768};
    int[] widths = args.length > 1 ? Arrays.stream(args[1].split(",")).mapToInt(Integer::parseInt).toArray()
        : new int[] {10, 100};
    for (int dim : dims) {
      for (int classes : widths) {
        PlantedOutlierHead h = PlantedOutlierHead.embeddings(dim, classes, dim, 4096);
        float[] x = h.x();
        for (Precision p : new Precision[] {Precision.INT8, Precision.INT4}) {
          LinearKernel old = kernel(h, p, WeightScaling.PER_CHANNEL);
          LinearKernel col = kernel(h, p, WeightScaling.COLUMN_CHANNEL);
          EncodedRows int8Rows = EncodedRows.encode(Precision.INT8, h.rows(), dim, x);
          EncodedRows fp32Rows = EncodedRows.fp32(h.rows(), dim, x);
          double oldKernel = nsPerRow(() -> score(old, int8Rows, ops), h.rows());
          double oldWithEncode = nsPerRow(() -> score(old, EncodedRows.encode(Precision.INT8, h.rows(), dim, x), ops),
              h.rows());
          double colFp32 = nsPerRow(() -> score(col, fp32Rows, ops), h.rows());
          double colInt8 = nsPerRow(() -> score(col, int8Rows, ops), h.rows());
          System.out.printf("%-6s %5d %7d | %10.0f %10.0f             | %10.0f %10.0f   (fp32 rows / old kernel %.2f, / old+encode %.2f)%n",
              p, dim, classes, oldKernel, oldWithEncode, colFp32, colInt8, colFp32 / oldKernel, colFp32 / oldWithEncode);
        }
      }
    }
  }

  static LinearKernel kernel(PlantedOutlierHead h, Precision p, WeightScaling s) {
    return LinearKernel.fromWeights(h.w(), h.bias(), labels(h.classes()), Activation.SOFTMAX, p, s);
  }

  static List<String> labels(int n) {
    return PlantedOutliersTest.labels(n);
  }

  /** One score; returns an output so the JIT cannot drop the work. */
  static float score(Kernel k, EncodedRows in, VectorOps ops) {
    KernelOutput out = k.newOutput();
    k.score(in, out, ops);
    return out.scores()[0];
  }

  static double nsPerRow(java.util.function.DoubleSupplier pass, int rows) {
    double keep = 0;
    for (int i = 0; i < 10; i++) {
      keep += pass.getAsDouble();
    }
    double[] t = new double[25];
    for (int i = 0; i < t.length; i++) {
      long t0 = System.nanoTime();
      keep += pass.getAsDouble();
      t[i] = (System.nanoTime() - t0) / (double) rows;
    }
    if (Double.isNaN(keep)) {
      System.out.println("(a pass scored NaN)");
    }
    Arrays.sort(t);
    return t[0];
  }

  private LinearKernelCostReport() {}
}
