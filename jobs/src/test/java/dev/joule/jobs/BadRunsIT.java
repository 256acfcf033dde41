package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.quantize.QuantizeJob;
import dev.joule.jobs.score.OutputTables;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad runs must not look green (issue 16, items 4 and 11), through the CLI as a user meets them:
 * a run that rejects every row, a card with no row scored, an empty input, top-k arguments, and a
 * run the quality gate refuses.
 */
class BadRunsIT {

  static final int ROWS = 3000;

  @TempDir static Path tmp;
  static SparkSession spark;
  static String d16;
  static Path model16;
  static Path model64;
  static String ref64;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    // As QualityGateIT: int4 rows on 16 noisy dims miss the default bar for this 5-class head.
    GenerateJob.Output a = new GenerateJob(spark).run(
        new GenerateJob.Request(ROWS, 16, 5, tmp.resolve("d16").toString(), "array", 11, 0.5));
    d16 = a.embeddings();
    model16 = a.model();
    // Another dimension, and the same model id (synthetic-teacher) as model16.
    GenerateJob.Output b = new GenerateJob(spark).run(
        new GenerateJob.Request(200, 64, 5, tmp.resolve("d64").toString(), "array", 12, 0.5));
    model64 = b.model();
    ref64 = b.embeddings();
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  static CliIT.Run joule(String... args) {
    return CliIT.joule(args);
  }

  static long version(String table) {
    return DeltaIO.latestVersion(spark, table);
  }

  static long count(String table) {
    return spark.read().format("delta").load(table).count();
  }

  static List<String> listing(String dir) throws Exception {
    try (Stream<Path> s = Files.list(Path.of(dir))) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void aRunThatRejectsEveryRowExitsThreeAndReplacesNothing() {
    String out = tmp.resolve("all-rejected").toString();
    CliIT.Run ok = joule("score", "--input", d16, "--model", model16.toString(), "--precision", "fp32", "--output", out);
    assertEquals(0, ok.code(), ok.err());
    OutputTables t = new OutputTables(out);
    long predictions = version(t.predictions());

    CliIT.Run bad = joule("score", "--input", d16, "--model", model64.toString(), "--precision", "fp32", "--output", out);
    System.out.println("all rejected: " + bad.err());
    assertEquals(3, bad.code(), bad.out() + bad.err());
    assertTrue(bad.err().startsWith("joule: error: all 3,000 rows rejected: wrong_dim 3,000 (e.g. embedding has 16 "
        + "values, the model expects 64)"), bad.err());
    assertEquals(1, bad.err().lines().count(), "one line: " + bad.err());
    assertEquals(predictions, version(t.predictions()), "the same model id's predictions are not replaced");
    assertEquals(ROWS, count(t.predictions()));
    assertEquals(1, count(t.runs()));

    // A fresh output: nothing is written, and no empty folder is left behind.
    String fresh = tmp.resolve("all-rejected-fresh/out").toString();
    CliIT.Run none = joule("score", "--input", d16, "--model", model64.toString(), "--output", fresh);
    assertEquals(3, none.code(), none.out() + none.err());
    assertFalse(Files.exists(tmp.resolve("all-rejected-fresh")), "no empty output folder");
  }

  @Test
  void withTheOptInItCommitsAndTheCardSaysNaPerRow() throws Exception {
    String out = tmp.resolve("all-rejected-allowed").toString();
    Path summary = tmp.resolve("all-rejected-allowed.json");
    CliIT.Run r = joule("score", "--input", d16, "--model", model64.toString(), "--output", out,
        "--summary-json", summary.toString(), "--set", "score.allow-all-rejected=true");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("3,000 in = 0 scored + 3,000 rejected"), r.out());
    String perRow = r.out().lines().filter(l -> l.contains("per row, estimated_cputime")).findFirst().orElseThrow();
    assertTrue(perRow.trim().endsWith("n/a"), "no row scored: no energy per row: " + perRow);
    JsonNode card = new ObjectMapper().readTree(summary.toFile());
    assertFalse(card.at("/runs/0/estimated_cputime_joules_per_row").isNumber(),
        card.at("/runs/0/estimated_cputime_joules_per_row").toString());
    assertEquals(ROWS, count(new OutputTables(out).rejects()));
  }

  @Test
  void anEmptyInputSaysItIsEmpty() throws Exception {
    String empty = tmp.resolve("empty-table").toString();
    StructType schema = new StructType().add("id", DataTypes.StringType)
        .add("embedding", DataTypes.createArrayType(DataTypes.FloatType));
    spark.createDataFrame(List.<Row>of(), schema).write().format("delta").save(empty);
    String out = tmp.resolve("empty-out").toString();
    CliIT.Run score = joule("score", "--input", empty, "--model", model16.toString(), "--output", out);
    assertEquals(3, score.code(), score.out() + score.err());
    assertTrue(score.err().startsWith("joule: error: input " + empty + " has no rows"), score.err());
    assertFalse(Files.exists(Path.of(out)), "nothing written");

    CliIT.Run quantize = joule("quantize", "--input", empty, "--precision", "int8", "--output",
        tmp.resolve("empty-codes").toString());
    assertEquals(3, quantize.code(), quantize.out() + quantize.err());
    assertTrue(quantize.err().contains("has no rows"), quantize.err());

    Path jsonl = Files.writeString(tmp.resolve("empty.jsonl"), "");
    CliIT.Run imp = joule("import", "--format", "jsonl", "--input", jsonl.toString(), "--out",
        tmp.resolve("empty-import").toString());
    assertEquals(3, imp.code(), imp.out() + imp.err());
    assertTrue(imp.err().startsWith("joule: error: input " + jsonl + " has no rows"), imp.err());

    Path csv = Files.writeString(tmp.resolve("header-only.csv"), "id,embedding\n");
    CliIT.Run headerOnly = joule("import", "--format", "csv", "--input", csv.toString(), "--out",
        tmp.resolve("empty-import-csv").toString());
    assertEquals(3, headerOnly.code(), headerOnly.out() + headerOnly.err());
    assertTrue(headerOnly.err().startsWith("joule: error: input " + csv + " has no rows"), headerOnly.err());
  }

  @Test
  void topkArgumentsAreCheckedBeforeTheReferenceSetIsRead() {
    // The reference path does not exist: an argument error must come first, before it is read.
    String absent = tmp.resolve("no-such-reference").toString();
    String out = tmp.resolve("topk-args").toString();
    String[][] cases = {
        {"--k", "0", "k must be >= 1"},
        {"--oversample", "0", "oversample must be >= 1"},
        {"--metric", "euclid", "unknown metric 'euclid'"},
        {"--rescore", "int4", "rescore must be auto, none, int8 or fp32"},
    };
    for (String[] c : cases) {
      CliIT.Run r = joule("score", "--input", d16, "--reference", absent, c[0], c[1], "--output", out);
      assertEquals(2, r.code(), c[0] + ": " + r.err());
      assertTrue(r.err().contains(c[2]), c[0] + ": " + r.err());
    }
    CliIT.Run tooMany = joule("score", "--input", d16, "--reference", ref64, "--k", "201", "--output", out);
    assertEquals(2, tooMany.code(), tooMany.err());
    assertTrue(tooMany.err().contains("k must be in 1..200 (reference rows), got 201"), tooMany.err());
    assertFalse(Files.exists(Path.of(out)));
  }

  @Test
  void aRefusedRunPrintsItsCardWritesItsSummaryAndIsRecordedAsRefused() throws Exception {
    // A fresh output: only the runs table, with the refused row; no other table, no staging.
    String fresh = tmp.resolve("refused-fresh").toString();
    Path summary = tmp.resolve("refused.json");
    CliIT.Run r = joule("score", "--input", d16, "--model", model16.toString(), "--precision", "int4",
        "--output", fresh, "--summary-json", summary.toString(), "--set", QualityGateIT.INT4_ROWS);
    System.out.println("refused: " + r.err());
    assertEquals(4, r.code(), r.out() + r.err());
    assertTrue(r.err().startsWith("joule: error: quality gate failed, nothing committed: softmax@int4"), r.err());
    assertTrue(r.out().contains("JOULE CLAIM CARD"), r.out());
    assertTrue(r.out().contains("REFUSED by the quality gate"), r.out());
    assertTrue(r.out().contains("quality gate failed: softmax@int4 top1_agreement"), r.out());
    JsonNode card = new ObjectMapper().readTree(summary.toFile());
    assertEquals("failed", card.at("/quality_gate/status").asText());
    assertFalse(card.at("/runs/0/committed").asBoolean());
    assertEquals(ROWS, card.at("/rows/scored").asLong());
    assertEquals(List.of("runs"), listing(fresh));
    OutputTables f = new OutputTables(fresh);
    Row run = spark.read().format("delta").load(f.runs()).head();
    assertEquals("refused", run.getAs("status"));
    assertTrue(run.<String>getAs("quality_gate").startsWith("failed: softmax@int4 top1_agreement"),
        run.<String>getAs("quality_gate"));
    assertTrue(run.<Double>getAs("estimated_joules") > 0, "the refused attempt's energy is on record");
    assertEquals(card.at("/runs/0/run_id").asText(), run.getAs("run_id"));

    // An output with a committed run: its tables stay as they were; runs gains the refused row.
    String out = tmp.resolve("refused-existing").toString();
    assertEquals(0, joule("score", "--input", d16, "--model", model16.toString(), "--precision", "fp32",
        "--output", out).code());
    OutputTables t = new OutputTables(out);
    long[] before = {version(t.predictions()), version(t.rejects()), version(t.energyLog())};
    CliIT.Run again = joule("score", "--input", d16, "--model", model16.toString(), "--precision", "int4",
        "--output", out, "--set", QualityGateIT.INT4_ROWS);
    assertEquals(4, again.code(), again.err());
    assertEquals(before[0], version(t.predictions()));
    assertEquals(before[1], version(t.rejects()));
    assertEquals(before[2], version(t.energyLog()), "a refused attempt's partitions are not in the energy_log");
    assertEquals(List.of("committed", "refused"), spark.read().format("delta").load(t.runs())
        .select("status").orderBy("status").collectAsList().stream().map(x -> x.getString(0)).toList());
    assertEquals(List.of("energy_log", "predictions", "rejects", "runs"), listing(out));
  }

  @Test
  void aRefusedCodesTableIsNotToldToFallBack() {
    String codes = tmp.resolve("codes-int4").toString();
    new QuantizeJob(spark, TestSpark.config(tmp)).run(
        new QuantizeJob.Request(d16, Precision.INT4, codes, codes + "_rejects", null));
    CliIT.Run r = joule("score", "--input", codes, "--model", model16.toString(), "--precision", "int4",
        "--output", tmp.resolve("codes-refused").toString());
    System.out.println("refused codes: " + r.err());
    assertEquals(4, r.code(), r.err());
    assertFalse(r.err().contains("fallback"), "a codes table cannot fall back: " + r.err());
    assertTrue(r.err().contains("cannot fall back to a higher precision: the input is a int4 codes table"), r.err());
  }
}
