package dev.joule.bench;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.expr;

import dev.joule.encoder.EncoderModel;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.config.JouleSpark;
import dev.joule.jobs.embed.EmbedJob;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.nightly.NightlyJob;
import dev.joule.jobs.report.EnergySummary;
import dev.joule.jobs.score.ScoreResult;
import dev.joule.udfs.embed.LongText;
import io.delta.tables.DeltaTable;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.SparkSession;

/**
 * A night over real text at 1 % churn against embedding every text again, in one run: the Debian
 * descriptions as a Delta table of texts; night 1 embeds and scores them all; then 0.5 % of the
 * texts are rewritten, 0.4 % added and 0.1 % deleted; night 2 embeds and scores only those; last,
 * {@code joule embed} of the whole changed table in the same (warm) JVM is the baseline a user
 * without incremental nights would pay. Energy is estimated (thread CPU x the assumed power band).
 *
 * <p>{@code bench/run-nightly-text.sh [--rows N]} (default 20,000 texts).
 */
public final class NightlyTextBench {

  private NightlyTextBench() {}

  public static void main(String[] args) throws Exception {
    int rows = 20_000;
    Path data = Path.of(System.getProperty("user.home"), ".cache/joule/debian-descriptions.jsonl");
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--rows" -> rows = Integer.parseInt(args[i + 1]);
        case "--data" -> data = Path.of(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    Path dir = Path.of("bench", "target", "nightly-text-bench").toAbsolutePath();
    NightlyBench.deleteTree(dir);
    String texts = dir.resolve("texts").toString();
    String out = dir.resolve("out").toString();
    List<String> sets = List.of("spark.master=local[2]", "spark.ui=false",
        "spark.conf.\"spark.sql.warehouse.dir\"=\"" + dir.resolve("warehouse") + "\"",
        "nightly.text.source=" + texts, "nightly.source=" + out + "/embeddings",
        "nightly.model=" + dir.resolve("gen/teacher-model.json"), "nightly.output=" + out, "nightly.precision=fp32");
    JouleConfig config = JouleConfig.load(null, sets);
    SparkSession spark = JouleSpark.session(config, "joule nightly text bench");
    try {
      // A 384-input head: the bench is about which rows are embedded; fp32 keeps the gate out of it.
      new GenerateJob(spark).run(new GenerateJob.Request(100, EncoderModel.DIM, 10, dir.resolve("gen").toString(),
          "array", 42, 0.3));
      long keep = rows;
      long added = Math.round(rows * 0.004);
      spark.read().json(data.toString()).withColumn("n", expr("row_number() OVER (ORDER BY id)"))
          .filter(col("n").leq(keep + added)).write().format("delta").save(dir.resolve("all").toString());
      spark.read().format("delta").load(dir.resolve("all").toString()).filter(col("n").leq(keep))
          .drop("n").write().format("delta").option("delta.enableChangeDataFeed", "true").save(texts);
      LocalDate d1 = LocalDate.parse("2026-11-01");
      Measured first = night(spark, config, d1);

      long rewritten = Math.round(rows * 0.005);
      long deleted = Math.round(rows * 0.001);
      DeltaTable t = DeltaTable.forPath(spark, texts);
      long step = Math.max(1, rows / rewritten);
      t.update(expr("pmod(hash(id), " + step + ") = 0"), Map.of("text", expr("concat(text, ' (new upstream release)')")));
      t.delete(expr("pmod(hash(id), " + (rows / Math.max(1, deleted)) + ") = 1"));
      spark.read().format("delta").load(dir.resolve("all").toString()).filter(col("n").gt(keep)).drop("n")
          .write().format("delta").mode("append").save(texts);
      Measured second = night(spark, config, d1.plusDays(1));

      long cpu0 = NightlyBench.processCpu();
      long w0 = System.nanoTime();
      EmbedJob.Result all = new EmbedJob(spark, config).run(new EmbedJob.Request(texts, EmbedJob.Format.DELTA, "text",
          "id", dir.resolve("embed-all").toString(), EncoderModel.ALL_MINILM_L6_V2, 64, LongText.TRUNCATE, null));
      double allCpu = (NightlyBench.processCpu() - cpu0) / 1e9;
      double allWall = (System.nanoTime() - w0) / 1e9;

      double allJ = joules(all.run());
      System.out.printf(Locale.ROOT, "%nNightly from text, %s, Debian package descriptions, %,d texts, local[2], one run. "
          + "Estimated energy (no RAPL/NVML): thread CPU x the assumed power band, plus the run's fixed process CPU.%n%n",
          LocalDate.now(), rows);
      System.out.println("| step | texts embedded | rows scored | wall s | process CPU s | embedding step, estimated J |");
      System.out.println("| --- | --- | --- | --- | --- | --- |");
      print("night 1 (first: every text)", first);
      print("night 2 (about 0.5 % of texts rewritten, 0.4 % added, 0.1 % deleted)", second);
      System.out.printf(Locale.ROOT, "| joule embed of every text (the baseline, warm JVM) | %,d | - | %.1f | %.1f | %.1f |%n",
          all.run().rowsScored(), allWall, allCpu, allJ);
      System.out.printf(Locale.ROOT, "%nnight 2's embedding step / embedding every text: %.3f (estimated J, tasks + fixed); "
          + "process CPU of the whole night 2 / joule embed of every text: %.3f%n", joules(second.r().textRun()) / allJ,
          second.cpuS() / allCpu);
      System.out.println("night 2: " + second.r().textSummary());
    } finally {
      spark.stop();
    }
  }

  record Measured(NightlyJob.Result r, double wallS, double cpuS) {}

  static Measured night(SparkSession spark, JouleConfig config, LocalDate d) {
    long cpu0 = NightlyBench.processCpu();
    long t0 = System.nanoTime();
    NightlyJob.Result r = new NightlyJob(spark, config).run(new NightlyJob.Request(d, false, false));
    return new Measured(r, (System.nanoTime() - t0) / 1e9, (NightlyBench.processCpu() - cpu0) / 1e9);
  }

  static double joules(ScoreResult r) {
    EnergySummary e = r.energy();
    return e.estimatedJ() + e.fixedEstimatedJ();
  }

  static void print(String name, Measured m) {
    System.out.printf(Locale.ROOT, "| %s | %,d | %,d | %.1f | %.1f | %.1f |%n", name, m.r().text().embedded(),
        m.r().scored(), m.wallS(), m.cpuS(), joules(m.r().textRun()));
  }
}
