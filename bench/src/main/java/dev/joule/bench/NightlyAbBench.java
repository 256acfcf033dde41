package dev.joule.bench;

import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.config.JouleSpark;
import dev.joule.jobs.generate.GenerateJob;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.SparkSession;

/**
 * A change's effect on what a scheduled night costs: the same 1 % nights, each a fresh {@code
 * bin/joule nightly --profile} process measured by {@code /usr/bin/time}, run by two checkouts
 * (another one, built, as "before", and this one as "after") into output tables of their own, in
 * turn, round after round. Each round changes the source once and both checkouts score that
 * change, the first of them alternating, so the drift of a shared VM falls on both. Both output
 * tables reach the same versions in the same round, checkpoints included.
 *
 * <p>Usage: {@code bench/run-nightly.sh --ab DIR [--rows N] [--rounds R] [--keep true]}, DIR a built checkout.
 */
public final class NightlyAbBench {

  private NightlyAbBench() {}

  public static void main(String[] args) throws Exception {
    long n = 300_000;
    int rounds = 8;
    int dim = 384;
    String root = ".";
    boolean keep = false; // --keep true: leave the tables for a look afterwards (tens of GB at 1M rows)
    String before = null;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--rows" -> n = Long.parseLong(args[i + 1]);
        case "--rounds" -> rounds = Integer.parseInt(args[i + 1]);
        case "--root" -> root = args[i + 1];
        case "--keep" -> keep = Boolean.parseBoolean(args[i + 1]);
        case "--ab" -> before = args[i + 1];
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    if (before == null || !Files.isExecutable(Path.of(before, "bin", "joule"))) {
      throw new IllegalArgumentException("--ab DIR: a built checkout with bin/joule (got " + before + ")");
    }
    Path dir = Path.of(root, "bench", "target", "nightly-ab").toAbsolutePath();
    JouleConfig config = NightlyTermsBench.freshFolder(dir);
    SparkSession spark = JouleSpark.session(config, "joule nightly A/B bench");
    try {
      long inserts = Math.round(n * 0.006);
      System.out.printf(Locale.ROOT, "generating %,d x %d rows...%n", n + inserts * rounds, dim);
      NightlyTermsBench.Prepared prepared = NightlyTermsBench.prepare(spark, config, dir, n + inserts * rounds, dim);
      GenerateJob.Output gen = prepared.gen();
      Path model = prepared.modelFile();
      String source = dir.resolve("source").toString();
      NightlyTermsBench.source(spark, gen, source, n);
      List<List<String>> joules = List.of(List.of(Path.of(before, "bin", "joule").toAbsolutePath().toString()),
          List.of(Path.of(root, "bin", "joule").toAbsolutePath().toString()));
      String[] names = {"before", "after"};
      double[][] cpu = new double[2][rounds + 1];
      double[][] wall = new double[2][rounds + 1];
      LocalDate d0 = LocalDate.parse("2026-11-01");
      for (int r = 0; r <= rounds; r++) { // round 0: the first (full) nights, which also write each checkout's class-data archive
        if (r > 0) {
          NightlyTermsBench.churn(spark, gen.embeddings(), source, n, 1.0, r % 4, n + inserts * (r - 1), inserts);
        }
        for (int k = 0; k < 2; k++) {
          int v = (r + k) % 2;
          NightlyTermsBench.Measured m = NightlyTermsBench.night(spark, joules.get(v), dir, source,
              dir.resolve("out-" + names[v]).toString(), model, d0.plusDays(r), names[v] + ", round " + r);
          cpu[v][r] = m.cpuS();
          wall[v][r] = m.wallS();
          System.out.printf(Locale.ROOT, "  %s: %,d changed, process CPU %.2f s, wall %.2f s, %d Spark jobs%n",
              m.name(), m.changed(), m.cpuS(), m.wallS(), m.sparkJobs());
        }
      }
      StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "Nightly A/B, %s, %,d x %d rows, 1 %% churn, "
          + "local[2]; before = %s, after = %s. Each night a fresh process; CPU = user + sys (/usr/bin/time). "
          + "Round 0 is the first (full) night. Single runs, alternating.%n%n", LocalDate.now(), n, dim, before, root));
      s.append("| round | before CPU s | after CPU s | before wall s | after wall s |\n| --- | --- | --- | --- | --- |\n");
      for (int r = 0; r <= rounds; r++) {
        s.append(String.format(Locale.ROOT, "| %d | %.2f | %.2f | %.2f | %.2f |%n", r, cpu[0][r], cpu[1][r],
            wall[0][r], wall[1][r]));
      }
      s.append(String.format(Locale.ROOT, "%nIncremental rounds 1..%d: median CPU s before %.2f, after %.2f; "
          + "mean %.2f, %.2f (a CPU-time comparison; no energy is measured here).%n", rounds,
          median(cpu[0], rounds), median(cpu[1], rounds), mean(cpu[0], rounds), mean(cpu[1], rounds)));
      System.out.print("\n" + s);
      Files.writeString(dir.resolveSibling("nightly-ab.md"), s.toString());
    } finally {
      spark.stop();
      if (!keep) {
        NightlyBench.deleteTables(dir);
      }
    }
  }

  private static double median(double[] x, int rounds) {
    double[] v = Arrays.copyOfRange(x, 1, rounds + 1);
    Arrays.sort(v);
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }

  private static double mean(double[] x, int rounds) {
    return Arrays.stream(x, 1, rounds + 1).average().orElse(Double.NaN);
  }
}
