package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.report.Quality;
import dev.joule.jobs.report.ReportJob;
import dev.joule.jobs.score.ScoreJob;
import dev.joule.jobs.score.ScoreResult;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * joule report on real runs: the HTML holds every claim-card field and three kinds of chart, needs
 * nothing from the network, and loads in headless Chromium with no console messages.
 */
class ReportIT {

  @TempDir static Path tmp;
  static SparkSession spark;
  static String out;
  static ScoreResult fp32;
  static ScoreResult int8;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    GenerateJob.Output gen = new GenerateJob(spark).run(
        new GenerateJob.Request(4000, 32, 4, tmp.resolve("gen").toString(), "array", 3, 0.3));
    out = tmp.resolve("out").toString();
    ScoreJob job = new ScoreJob(spark, TestSpark.config(tmp));
    fp32 = job.run(new ScoreJob.Request(gen.embeddings(), gen.model(), Precision.FP32, out, true));
    int8 = job.run(new ScoreJob.Request(gen.embeddings(), gen.model(), Precision.INT8, out, true));
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  static void fieldPaths(String prefix, Object v, List<String> paths) {
    if (v instanceof Map<?, ?> m) {
      m.forEach((k, x) -> fieldPaths(prefix.isEmpty() ? k.toString() : prefix + "." + k, x, paths));
    } else if (v instanceof List<?> l) {
      for (int i = 0; i < l.size(); i++) {
        fieldPaths(prefix + "[" + i + "]", l.get(i), paths);
      }
    } else {
      paths.add(prefix);
    }
  }

  @Test
  void aComparisonReportHoldsEveryCardFieldAndNeedsNoNetwork() throws IOException {
    ReportJob.Report r = new ReportJob(spark, TestSpark.config(tmp)).run(new ReportJob.Request(out, null, false,
        List.of(fp32.runId(), int8.runId()), tmp.resolve("report/compare.html")));
    String html = Files.readString(r.file());
    List<String> paths = new ArrayList<>();
    fieldPaths("", r.card().toMap(), paths);
    assertTrue(paths.size() > 40, "a comparison card has many fields: " + paths.size());
    for (String p : paths) {
      assertTrue(html.contains("<tr><td>" + p + "</td>"), "claim card field " + p + " is in the report");
    }
    assertTrue(html.contains("JOULE CLAIM CARD") && html.contains("softmax@int8 vs baseline softmax@fp32"));
    assertTrue(html.contains("top-1 agreement"), "quality from the predictions table");
    assertTrue(countOf(html, "<svg") >= 5, "energy and time per partition for both runs, and the comparison");
    assertTrue(html.contains("estimated_cputime") && html.contains("modelled_ops_bytes"));
    for (String network : List.of("<script", "<link", "src=\"http", "href=\"http", "url(http", "@import")) {
      assertTrue(!html.contains(network), "self-contained: no " + network);
    }
    openInChromium(r.file());
  }

  @Test
  void comparingRunsOfDifferentInputsIsRefused() {
    GenerateJob.Output other = new GenerateJob(spark).run(
        new GenerateJob.Request(500, 32, 4, tmp.resolve("gen-other").toString(), "array", 9, 0.3));
    String out2 = tmp.resolve("out-mixed").toString();
    ScoreJob job = new ScoreJob(spark, TestSpark.config(tmp));
    ScoreResult a = job.run(new ScoreJob.Request(other.embeddings(), other.model(), Precision.FP32, out2, true));
    ScoreResult b = job.run(new ScoreJob.Request(tmp.resolve("gen").resolve("embeddings").toString(), other.model(),
        Precision.INT8, out2, true));
    JouleException e = assertThrows(JouleException.class, () -> new ReportJob(spark, TestSpark.config(tmp))
        .run(new ReportJob.Request(out2, null, false, List.of(a.runId(), b.runId()), tmp.resolve("z.html"))));
    assertEquals(JouleException.USAGE, e.exitCode());
    assertTrue(e.getMessage().startsWith("--compare needs two runs of the same input"), e.getMessage());
  }

  @Test
  void theLatestRunAloneClaimsNoSaving() throws IOException {
    ReportJob.Report r = new ReportJob(spark, TestSpark.config(tmp)).run(
        new ReportJob.Request(out, null, true, null, tmp.resolve("report/latest.html")));
    String html = Files.readString(r.file());
    assertTrue(html.contains("no baseline in this run"), "one run: no saving claimed");
    assertTrue(html.contains("<title>Joule report: " + int8.runId() + "</title>"), "the latest committed run is the int8 one");
    @SuppressWarnings("unchecked")
    List<Map<String, Object>> cardRuns = (List<Map<String, Object>>) r.card().toMap().get("runs");
    assertEquals(int8.runId(), cardRuns.get(0).get("run_id"));
    JouleException missing = assertThrows(JouleException.class, () -> new ReportJob(spark, TestSpark.config(tmp))
        .run(new ReportJob.Request(tmp.resolve("nothing").toString(), null, true, null, tmp.resolve("x.html"))));
    assertEquals(JouleException.INPUT, missing.exitCode());
    assertTrue(missing.getMessage().startsWith("no runs table under "), missing.getMessage());
    JouleException unknown = assertThrows(JouleException.class, () -> new ReportJob(spark, TestSpark.config(tmp))
        .run(new ReportJob.Request(out, "run-that-never-was", false, null, tmp.resolve("y.html"))));
    assertTrue(unknown.getMessage().startsWith("no committed run run-that-never-was in "), unknown.getMessage());
  }

  /**
   * A codes table's run compares with the fp32 run of the version it was quantized from, though
   * the two read different tables and wrote different folders; the demo's report holds both
   * comparisons this way.
   */
  @Test
  void aCodesRunComparesWithItsSourcesFp32RunByLineage() throws IOException {
    String codes = tmp.resolve("codes").toString();
    new dev.joule.jobs.quantize.QuantizeJob(spark, TestSpark.config(tmp)).run(new dev.joule.jobs.quantize.QuantizeJob.Request(
        tmp.resolve("gen").resolve("embeddings").toString(), Precision.INT8, codes, codes + "_rejects", null));
    String codesOut = tmp.resolve("out-codes").toString();
    ScoreResult fromCodes = new ScoreJob(spark, TestSpark.config(tmp)).run(new ScoreJob.Request(codes,
        tmp.resolve("gen").resolve("teacher-model.json"), Precision.INT8, codesOut, true));
    ReportJob.Report r = new ReportJob(spark, TestSpark.config(tmp)).run(new ReportJob.Request(List.of(out, codesOut),
        null, false, List.of(fp32.runId(), int8.runId(), fromCodes.runId()), tmp.resolve("report/lineage.html")));
    assertEquals(2, r.cards().size(), "one card per candidate");
    String html = Files.readString(r.file());
    String codesHeadline = r.cards().get(1).headline();
    assertTrue(codesHeadline.startsWith("softmax@int8 from codes: "), codesHeadline);
    assertTrue(codesHeadline.contains("top-1 agreement") && codesHeadline.contains("estimated_cputime"), codesHeadline);
    assertTrue(html.contains(ReportHtml_esc(codesHeadline)), "the headline is at the top of the report");
    assertTrue(html.indexOf(ReportHtml_esc(codesHeadline)) < html.indexOf("JOULE CLAIM CARD"), "headline first");
    Quality q = r.cards().get(1).quality();
    assertEquals(Quality.EVERY_ROW, q.basis());
    assertEquals(4000, q.rowsCompared(), "every row both runs scored");
    // Runs minutes or seconds apart are never "the same run".
    assertTrue(!r.card().toText().contains("same run"), r.card().toText());
    assertTrue(r.card().toText().contains("same rows, two runs, "), r.card().toText());
    assertTrue(html.contains("What a run of your size costs") && html.contains("100M rows"), "fixed vs per-row");
    assertTrue(html.contains("<td class=\"num\">99.50 %</td>"), "the gate's bar beside each gated kernel");
    assertTrue(html.contains("softmax@int8 from codes</td>"), "the codes run is a point of the precision comparison");
    openInChromium(r.file());
  }

  /**
   * A later run of the same kernel replaces its predictions: a comparison with the earlier run
   * then takes the agreement its gate measured and stored when it ran, and says so.
   */
  @Test
  void agreementMeasuredAtRunTimeSurvivesALaterRunOfTheSameKernel() {
    GenerateJob.Output g = new GenerateJob(spark).run(
        new GenerateJob.Request(3000, 32, 4, tmp.resolve("gen-later").toString(), "array", 5, 0.3));
    String o = tmp.resolve("out-later").toString();
    ScoreJob job = new ScoreJob(spark, TestSpark.config(tmp));
    ScoreResult base = job.run(new ScoreJob.Request(g.embeddings(), g.model(), Precision.FP32, o, true));
    ScoreResult first = job.run(new ScoreJob.Request(g.embeddings(), g.model(), Precision.INT8, o, true));
    job.run(new ScoreJob.Request(g.embeddings(), g.model(), Precision.INT8, o, true));
    ReportJob.Report r = new ReportJob(spark, TestSpark.config(tmp)).run(new ReportJob.Request(o, null, false,
        List.of(base.runId(), first.runId()), tmp.resolve("report/later.html")));
    Quality q = r.card().quality();
    assertTrue(q != null, "agreement is not n/a");
    assertEquals(Quality.GATE_SAMPLE, q.basis());
    assertTrue(q.top1Agreement() >= 0.99 && q.rowsCompared() > 0, q.toString());
  }

  /**
   * The degenerate runs render: a night with no changes (no partition at all), a run whose every
   * row was rejected, and a run of one partition; a nightly folder gets its night-by-night trend.
   */
  @Test
  void degenerateRunsRender() throws IOException {
    // All rows rejected: 16-d rows against a 32-d model.
    GenerateJob.Output narrow = new GenerateJob(spark).run(
        new GenerateJob.Request(200, 16, 4, tmp.resolve("gen-narrow").toString(), "array", 4, 0.3));
    String rejectedOut = tmp.resolve("out-rejected").toString();
    ScoreJob job = new ScoreJob(spark, TestSpark.config(tmp, "quality.sample-rows=0", "score.allow-all-rejected=true"));
    ScoreResult rejected = job.run(new ScoreJob.Request(narrow.embeddings(), tmp.resolve("gen").resolve("teacher-model.json"),
        Precision.INT8, rejectedOut, true));
    assertEquals(0, rejected.rowsScored());
    assertEquals(200, rejected.rowsRejected());
    String html = Files.readString(new ReportJob(spark, TestSpark.config(tmp)).run(new ReportJob.Request(rejectedOut,
        null, true, null, tmp.resolve("report/rejected.html"))).file());
    assertTrue(html.contains("all 200 rows in were rejected"), "says why there is no chart");
    assertTrue(!html.contains("hardware unknown") && !html.contains(", 0 vCPU"), "hardware of the machine it ran on");

    // One partition.
    String tiny = tmp.resolve("tiny").toString();
    spark.read().format("delta").load(tmp.resolve("gen").resolve("embeddings").toString()).limit(40).coalesce(1)
        .write().format("delta").save(tiny);
    String tinyOut = tmp.resolve("out-tiny").toString();
    ScoreResult one = job.run(new ScoreJob.Request(tiny, tmp.resolve("gen").resolve("teacher-model.json"),
        Precision.FP32, tinyOut, true));
    assertEquals(1, one.energy().partitions());
    assertTrue(Files.readString(new ReportJob(spark, TestSpark.config(tmp)).run(new ReportJob.Request(tinyOut,
        null, true, null, tmp.resolve("report/one.html"))).file()).contains("<svg"));

    // Two nights, the second without changes: no rows, no partition.
    String source = tmp.resolve("night-source").toString();
    spark.read().format("delta").load(tmp.resolve("gen").resolve("embeddings").toString()).limit(300)
        .select("id", "embedding").write().format("delta").option("delta.enableChangeDataFeed", "true").save(source);
    String nightOut = tmp.resolve("night-out").toString();
    for (String day : List.of("2026-11-01", "2026-11-02")) {
      new dev.joule.jobs.nightly.NightlyJob(spark, TestSpark.config(tmp, "nightly.source=" + source,
          "nightly.model=" + tmp.resolve("gen").resolve("teacher-model.json"), "nightly.output=" + nightOut,
          "quality.sample-rows=0")).run(new dev.joule.jobs.nightly.NightlyJob.Request(java.time.LocalDate.parse(day),
          false, false));
    }
    ReportJob.Report quiet = new ReportJob(spark, TestSpark.config(tmp)).run(new ReportJob.Request(nightOut, null, true,
        null, tmp.resolve("report/quiet-night.html")));
    assertEquals(0, quiet.card().candidate().rowsIn());
    assertEquals(0, quiet.card().candidate().energy().partitions());
    assertTrue(quiet.card().candidate().energy().vcpus() > 0, "the driver's machine, not 0 vCPU");
    String nights = Files.readString(quiet.file());
    assertTrue(nights.contains("No rows came in"), "the empty night says so");
    assertTrue(nights.contains("Night by night"), "a nightly folder's trend");
    assertEquals(2, countOf(nights.substring(nights.indexOf("Night by night")), "<tr><td class=\"num\">"),
        "one row per night");
    openInChromium(quiet.file());
  }

  static String ReportHtml_esc(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }

  static int countOf(String s, String what) {
    int n = 0;
    for (int i = s.indexOf(what); i >= 0; i = s.indexOf(what, i + 1)) {
      n++;
    }
    return n;
  }

  /**
   * Loads the report in Debian's headless Chromium: a screenshot, the DOM it built, and its
   * console, which must stay silent. .ci/run installs Chromium and sets JOULE_REQUIRE_BROWSER=1,
   * so CI never skips this; elsewhere it is skipped without Chromium.
   */
  static void openInChromium(Path html) throws IOException {
    String given = System.getenv("JOULE_CHROMIUM");
    Path chromium = (given != null && !given.isBlank() ? List.of(given) : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser"))
        .stream().map(Path::of).filter(Files::isExecutable).findFirst().orElse(null);
    if (chromium == null) {
      if ("1".equals(System.getenv("JOULE_REQUIRE_BROWSER"))) {
        fail("JOULE_REQUIRE_BROWSER=1 but no Chromium at " + (given != null ? given : "/usr/bin/chromium"));
      }
      Assumptions.abort("Chromium is not installed (apt-get install chromium); .ci/run installs it");
    }
    Path shot = html.resolveSibling("report.png");
    String url = html.toUri().toString();
    Result screenshot = chromium(chromium, html.resolveSibling("profile-1"), "--screenshot=" + shot,
        "--window-size=1280,4000", url);
    assertEquals(0, screenshot.code, screenshot.err);
    assertTrue(Files.size(shot) > 20_000, "a screenshot with something on it: " + Files.size(shot) + " bytes");
    Result dom = chromium(chromium, html.resolveSibling("profile-2"), "--dump-dom", url);
    assertEquals(0, dom.code, dom.err);
    assertTrue(dom.out.contains("JOULE CLAIM CARD"), "the browser built the page");
    int charts = countOf(Files.readString(html), "<svg");
    assertTrue(charts >= 1 && countOf(dom.out, "<svg") == charts, "and every inline chart (" + charts + ")");
    for (Result r : List.of(screenshot, dom)) {
      Matcher console = Pattern.compile(".*:CONSOLE.*").matcher(r.err);
      assertTrue(!console.find(), "no console messages: " + (console.find(0) ? console.group() : ""));
      assertTrue(!r.err.contains("ERR_FILE_NOT_FOUND") && !r.err.contains("ERR_NAME_NOT_RESOLVED"),
          "nothing the page asked for was missing");
    }
  }

  record Result(int code, String out, String err) {}

  static Result chromium(Path chromium, Path profile, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(chromium.toString(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0"));
    cmd.addAll(List.of(args));
    Path outFile = profile.resolveSibling(profile.getFileName() + ".out");
    Path errFile = profile.resolveSibling(profile.getFileName() + ".err");
    Process p = new ProcessBuilder(cmd).redirectOutput(outFile.toFile()).redirectError(errFile.toFile()).start();
    try {
      if (!p.waitFor(120, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        fail("chromium did not finish in 120 s: " + cmd);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
    return new Result(p.exitValue(), Files.readString(outFile, StandardCharsets.UTF_8),
        Files.readString(errFile, StandardCharsets.UTF_8));
  }
}
