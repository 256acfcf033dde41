package dev.joule.bench;

import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * The kernel benchmark: first this machine's memory roofline (a single-thread read-bandwidth
 * probe over 1 GiB, best of several passes) and the rows/s ceiling it implies for each precision;
 * then, in the same run, JMH rows/s for Joule's kernels, Lucene's VectorUtil and a 10-class
 * linear head; then one table of rows/s, fraction of roofline, and ratio to Lucene.
 *
 * <p>Usage: {@code bench/run-kernels.sh [--quick]}. Writes the table to
 * {@code bench/target/kernel-bench.md} as well as stdout.
 */
public final class KernelBench {

  private KernelBench() {}

  public static void main(String[] args) throws RunnerException, IOException {
    boolean quick = List.of(args).contains("--quick");
    double gbps = readBandwidthGBps(quick ? 3 : 6);
    StringBuilder md = new StringBuilder();
    md.append(String.format(Locale.ROOT, "Machine: %s, %d vCPU, Java %s, vector ops: %s; date %s%n%n",
        cpuModel(), Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"),
        VectorOpsProvider.get().name(), LocalDate.now()));
    md.append(String.format(Locale.ROOT, "Roofline: single-thread read bandwidth %.1f GB/s (1 GiB float[] summed with the Vector API, best pass).%n%n", gbps));
    md.append("| precision | bytes read per 768-d row | rows/s ceiling per core |\n| --- | --- | --- |\n");
    Map<String, Double> ceiling = new LinkedHashMap<>();
    for (Precision p : Precision.values()) {
      long bytes = bytesPerRow(p);
      ceiling.put(p.label(), gbps * 1e9 / bytes);
      md.append(String.format(Locale.ROOT, "| %s | %d | %,.0f |%n", p, bytes, gbps * 1e9 / bytes));
    }
    System.out.print(md);
    System.out.flush();

    ChainedOptionsBuilder opts = new OptionsBuilder()
        .include(DotBench.class.getName() + "\\.")
        .forks(1)
        .warmupIterations(quick ? 1 : 2).warmupTime(TimeValue.seconds(quick ? 1 : 2))
        .measurementIterations(quick ? 2 : 3).measurementTime(TimeValue.seconds(quick ? 1 : 3))
        .jvmArgsAppend(jvmFlags());
    Collection<RunResult> results = new Runner(opts.build()).run();

    Map<String, double[]> rowsPerSec = new LinkedHashMap<>(); // key -> {rows/s, error}
    for (RunResult r : results) {
      var params = r.getParams();
      String bench = params.getBenchmark().substring(params.getBenchmark().lastIndexOf('.') + 1);
      String precision = params.getParam("precision") == null ? "int8" : params.getParam("precision");
      String residency = params.getParam("residency") == null ? "dram" : params.getParam("residency");
      double rows = rowsPerInvocation(bench, precision, residency);
      var score = r.getPrimaryResult();
      rowsPerSec.put(bench + "/" + precision + "/" + residency,
          new double[] {score.getScore() * rows, score.getScoreError() * rows});
    }

    StringBuilder table = new StringBuilder();
    table.append("\n| kernel | data in | rows/s (± JMH error) | fraction of roofline | ratio to Lucene |\n")
        .append("| --- | --- | --- | --- | --- |\n");
    for (Map.Entry<String, double[]> e : rowsPerSec.entrySet()) {
      String[] k = e.getKey().split("/");
      double[] v = e.getValue();
      // A column-scaled head reads fp32 rows whatever its weights' precision.
      String rowsAt = k[0].equals("linearHeadColumnScaled") ? "fp32" : k[1];
      String fraction = k[2].equals("dram") && !k[0].equals("lucene")
          ? String.format(Locale.ROOT, "%.2f", v[0] / ceiling.get(rowsAt)) : "";
      if (k[0].equals("lucene") && k[2].equals("dram")) {
        fraction = String.format(Locale.ROOT, "%.2f", v[0] / ceiling.get(k[1]));
      }
      double[] peer = rowsPerSec.get("lucene/" + k[1] + "/" + k[2]);
      String ratio = k[0].equals("joule") && peer != null ? String.format(Locale.ROOT, "%.2f", v[0] / peer[0]) : "";
      String name = switch (k[0]) {
        case "joule" -> "Joule " + k[1] + (k[1].equals("int4") ? " (int8 x int4)" : k[1].equals("binary") ? " (Hamming)" : "") + " dot";
        case "lucene" -> "Lucene VectorUtil " + k[1] + " dot";
        case "linearHeadColumnScaled" -> "Joule 10-class softmax head " + k[1] + ", column-channel (fp32 rows)";
        case "linearHeadUnquantized" -> "Joule 10-class softmax head int8 rows, unquantized (fp32) weights";
        case "linearHeadPairwise" -> "Joule 10-class softmax head " + k[1] + ", pairwise dots (the kernel before blocking)";
        case "linearHeadUnquantizedPairwise" -> "Joule 10-class softmax head int8 rows, unquantized (fp32) weights, pairwise dots";
        default -> "Joule 10-class softmax head " + k[1];
      };
      table.append(String.format(Locale.ROOT, "| %s | %s | %,.0f (± %,.0f) | %s | %s |%n", name, k[2], v[0], v[1], fraction, ratio));
    }
    double[] h8 = rowsPerSec.get("linearHead/int8/dram");
    double[] h32 = rowsPerSec.get("linearHead/fp32/dram");
    if (h8 != null && h32 != null) {
      table.append(String.format(Locale.ROOT, "%n10-class head, int8 / fp32 rows/s: %.2f%n", h8[0] / h32[0]));
    }
    for (String[] pair : new String[][] {{"linearHead/int8/dram", "linearHeadPairwise/int8/dram", "int8"},
        {"linearHead/fp32/dram", "linearHeadPairwise/fp32/dram", "fp32"},
        {"linearHeadUnquantized/int8/dram", "linearHeadUnquantizedPairwise/int8/dram", "int8 rows, fp32 weights"}}) {
      double[] blocked = rowsPerSec.get(pair[0]);
      double[] pairwise = rowsPerSec.get(pair[1]);
      if (blocked != null && pairwise != null) {
        table.append(String.format(Locale.ROOT, "10-class head %s, blocked / pairwise dots rows/s: %.2f%n", pair[2],
            blocked[0] / pairwise[0]));
      }
    }
    for (Map.Entry<String, double[]> e : rowsPerSec.entrySet()) {
      String[] k = e.getKey().split("/");
      if (k[2].equals("dram") && !k[0].startsWith("linearHead") && e.getValue()[0] > 1.05 * ceiling.get(k[1])) {
        table.append("\nWARNING: " + e.getKey() + " exceeds the measured roofline: the probe underestimates bandwidth.\n");
      }
    }
    table.append("\nRows in DRAM: >= 1 GiB of rows per precision (the head: 512 MiB); in cache: 256 KiB. "
        + "One thread. Ratios and fractions are from this run on this machine only.\n");
    System.out.print(table);
    md.append(table);
    Path out = Path.of("bench", "target", "kernel-bench.md");
    Files.createDirectories(out.getParent());
    Files.writeString(out, md.toString());
    System.out.println("\nwritten: " + out);
  }

  /** Bytes a kernel reads per row: the codes plus the row scale (quantized), or the floats. */
  static long bytesPerRow(Precision p) {
    return p.rowBytes(DotBench.DIM) + (p == Precision.FP32 ? 0 : 4);
  }

  static double rowsPerInvocation(String bench, String precision, String residency) {
    int dim = DotBench.DIM;
    long budget = residency.equals("dram") ? DotBench.DRAM_BYTES : DotBench.CACHE_BYTES;
    switch (bench) {
      case "joule":
        return Rows.rowsFor(Precision.parse(precision), dim, budget, 64);
      case "lucene":
        return Math.max(64, budget / (precision.equals("fp32") ? 4L * dim : dim));
      case "linearHeadColumnScaled":
        return Rows.rowsFor(Precision.FP32, dim, DotBench.DRAM_BYTES / 2, 8192);
      default:
        return Rows.rowsFor(Precision.parse(precision), dim, DotBench.DRAM_BYTES / 2, 8192);
    }
  }

  /**
   * Best single-thread read bandwidth over a 1 GiB float array, in GB/s: a Vector API sum with 4
   * independent accumulators of the widest lanes, one call per pass (so each pass runs fully
   * JIT-compiled code, not an on-stack-replaced first loop), best of several passes after a
   * warm-up pass. The kernel table flags any kernel that exceeds it.
   */
  public static double readBandwidthGBps(int passes) {
    float[] a = new float[1 << 28];
    for (int i = 0; i < a.length; i++) {
      a[i] = i & 1023;
    }
    double best = 0;
    float sink = 0;
    for (int p = 0; p <= passes; p++) {
      long t0 = System.nanoTime();
      sink += sumPass(a);
      long t = System.nanoTime() - t0;
      if (p > 0) {
        best = Math.max(best, 4.0 * a.length / t);
      }
    }
    if (sink == 42) {
      System.out.println();
    }
    return best;
  }

  private static float sumPass(float[] a) {
    var sp = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
    int step = sp.length();
    var v0 = jdk.incubator.vector.FloatVector.zero(sp);
    var v1 = v0;
    var v2 = v0;
    var v3 = v0;
    for (int i = 0; i + 4 * step <= a.length; i += 4 * step) {
      v0 = v0.add(jdk.incubator.vector.FloatVector.fromArray(sp, a, i));
      v1 = v1.add(jdk.incubator.vector.FloatVector.fromArray(sp, a, i + step));
      v2 = v2.add(jdk.incubator.vector.FloatVector.fromArray(sp, a, i + 2 * step));
      v3 = v3.add(jdk.incubator.vector.FloatVector.fromArray(sp, a, i + 3 * step));
    }
    return v0.add(v1).add(v2).add(v3).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
  }

  static String[] jvmFlags() {
    List<String> flags = new ArrayList<>(List.of("-Xmx4g", "-XX:+IgnoreUnrecognizedVMOptions",
        "--add-modules=jdk.incubator.vector"));
    String extra = System.getProperty("joule.bench.jvmArgs");
    if (extra != null && !extra.isBlank()) {
      flags.addAll(List.of(extra.trim().split("\\s+")));
    }
    return flags.toArray(String[]::new);
  }

  static String cpuModel() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (line.startsWith("model name")) {
          return line.substring(line.indexOf(':') + 1).trim();
        }
      }
    } catch (IOException e) {
      // fall through
    }
    return System.getProperty("os.arch");
  }
}
