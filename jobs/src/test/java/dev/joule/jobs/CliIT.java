package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The joule CLI as a user runs it: the README's demo (smaller), and one-line errors. */
class CliIT {

  @TempDir static Path tmp;
  static SparkSession spark;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  record Run(int code, String out, String err) {}

  static Run joule(String... args) {
    CommandLine cl = Main.commandLine();
    StringWriter err = new StringWriter();
    cl.setErr(new PrintWriter(err, true));
    PrintStream saved = System.out;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    try {
      int code = cl.execute(args);
      return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString());
    } finally {
      System.setOut(saved);
    }
  }

  @Test
  void demoPrintsTheClaimCardAndWritesTheSummary() throws Exception {
    Path summary = tmp.resolve("summary.json");
    Run r = joule("demo", "--rows", "4000", "--dim", "64", "--warmup-rows", "500",
        "--out", tmp.resolve("demo").toString(), "--summary-json", summary.toString(),
        "--set", "score.batch-rows=1024");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("JOULE CLAIM CARD"), r.out());
    assertTrue(r.out().contains("the estimated ratio is the thread-CPU-time ratio up to the DRAM traffic term"), r.out());
    assertTrue(r.out().contains("thread CPU time only (measured)"), r.out());
    assertTrue(r.out().contains("estimated_cputime, whole task"), r.out());
    // Three runs of one command, after a warm-up: said so, and no "same run", no warm-up warning.
    assertTrue(r.out().contains("same rows, two runs of one command, "), r.out());
    assertFalse(r.out().contains("same run"), r.out());
    assertFalse(r.out().contains("cold JVM"), r.out());
    JsonNode card = new ObjectMapper().readTree(summary.toFile());
    assertEquals(4000, card.at("/rows/scored").asLong());
    assertEquals("softmax@fp32", card.at("/runs/0/kernel").asText());
    assertEquals("baseline", card.at("/runs/0/role").asText());
    assertEquals("softmax@int8", card.at("/runs/1/kernel").asText());
    double agreement = card.at("/quality/top1_agreement").asDouble();
    assertTrue(agreement >= 0.99, "int8 top-1 agreement " + agreement);
    assertTrue(card.at("/quality/max_abs_prob_error").asDouble() < 0.2);
    assertTrue(card.at("/ratio_candidate_over_baseline/meaning").asText().contains("thread-CPU-time ratio"));
    assertTrue(card.at("/ratio_candidate_over_baseline/thread_cpu_per_row").asDouble() > 0);
    assertTrue(card.at("/headline").asText().startsWith("softmax@int8: "), card.at("/headline").asText());
    assertTrue(card.at("/from_codes/headline").asText().startsWith("softmax@int8 from codes: "),
        card.at("/from_codes/headline").asText());
    // The report holds both comparisons, on the fly and quantize once, each with its headline.
    String report = java.nio.file.Files.readString(tmp.resolve("demo").resolve("report.html"));
    assertTrue(report.contains("softmax@int8 from codes: ") && report.contains("softmax@int8: "), "both headlines");
    double ratio = card.at("/ratio_candidate_over_baseline/modelled_ops_bytes_per_row").asDouble();
    assertTrue(ratio > 0 && ratio < 1, "int8 moves and multiplies fewer bits: modelled ratio " + ratio);
    assertFalse(card.at("/hardware/cpu_model").asText().isBlank());
    // The quantize-once card: same baseline, int8 read from the codes table, same answers.
    assertTrue(r.out().contains("QUANTIZE ONCE"), r.out());
    assertEquals("softmax@int8", card.at("/from_codes/runs/1/kernel").asText());
    // The codes' rows are divided by the table's dimension scales first (a generated table records
    // none, so on the fly they are not): the answers may differ, the quality may not drop.
    double fromCodes = card.at("/from_codes/quality/top1_agreement").asDouble();
    assertTrue(fromCodes >= 0.99 && Math.abs(fromCodes - agreement) <= 0.002,
        "int8 from codes agreement " + fromCodes + ", on the fly " + agreement);
    assertTrue(card.at("/from_codes/runs/1/bytes_read").asLong() < card.at("/runs/1/bytes_read").asLong() / 2,
        "the codes path reads less than half the bytes");
  }

  @Test
  void precisionAutoScoresAtTheChosenPrecisionAndSaysWhy() {
    String data = tmp.resolve("auto").toString();
    assertEquals(0, joule("generate", "--rows", "1500", "--dim", "32", "--classes", "4", "--out", data).code());
    Run r = joule("score", "--input", data + "/embeddings", "--model", data + "/teacher-model.json",
        "--precision", "auto", "--out", tmp.resolve("auto-out").toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("auto chose softmax@"), r.out());
    assertTrue(r.out().contains("cheapest modelled first"), r.out());
    // The card says what the whole process cost, not only the partition tasks.
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("whole process ([0-9.]+) CPU-s").matcher(r.out());
    assertTrue(m.find(), r.out());
    assertTrue(Double.parseDouble(m.group(1)) > 0, r.out());
    Run topkFlags = joule("score", "--input", data + "/embeddings", "--reference", data + "/embeddings",
        "--precision", "auto", "--oversample", "4", "--out", tmp.resolve("auto-topk").toString());
    assertEquals(2, topkFlags.code());
    assertTrue(topkFlags.err().contains("--precision auto chooses the top-k rescoring too"), topkFlags.err());
    String codes = tmp.resolve("auto-codes").toString();
    assertEquals(0, joule("quantize", "--input", data + "/embeddings", "--precision", "int8", "--out", codes).code());
    Run onCodes = joule("score", "--input", codes, "--model", data + "/teacher-model.json", "--precision", "auto",
        "--out", tmp.resolve("auto-codes-out").toString());
    assertEquals(2, onCodes.code(), onCodes.out());
    assertTrue(onCodes.err().contains("is a codes table, which holds one precision"), onCodes.err());
  }

  @Test
  void generateAgainInTheSameFolderReplacesTheTableEvenWithAnotherLayout() {
    String out = tmp.resolve("regen").toString();
    for (String layout : new String[] {"array", "binary"}) {
      Run r = joule("generate", "--rows", "300", "--dim", "8", "--classes", "2", "--out", out, "--layout", layout);
      assertEquals(0, r.code(), r.err());
      assertTrue(r.out().contains("generated 300 rows x 8 dims"), r.out());
    }
    org.apache.spark.sql.Dataset<org.apache.spark.sql.Row> t = spark.read().format("delta").load(out + "/embeddings");
    assertEquals(300, t.count());
    assertEquals("binary", t.schema().apply("embedding").dataType().simpleString());
  }

  @Test
  void errorsAreOneLineWithTheDocumentedExitCodes() {
    Run missing = joule("score", "--input", tmp.resolve("absent").toString(), "--model",
        tmp.resolve("m.json").toString(), "--output", tmp.resolve("o").toString());
    assertEquals(3, missing.code());
    assertTrue(missing.err().startsWith("joule: error: model file not found"), missing.err());
    assertFalse(missing.err().contains("\tat "), "no stack trace: " + missing.err());

    Run precision = joule("score", "--input", "x", "--model", "y", "--output", "z", "--precision", "int3");
    assertEquals(2, precision.code());
    assertTrue(precision.err().contains("unknown precision 'int3'"), precision.err());

    Run usage = joule("score", "--input", "x");
    assertEquals(2, usage.code());
    assertTrue(usage.err().contains("Missing required option"), usage.err());

    Run badSet = joule("generate", "--rows", "1", "--dim", "1", "--classes", "2", "--out", "x", "--set", "novalue");
    assertEquals(2, badSet.code());
    assertTrue(badSet.err().contains("--set expects key=value"), badSet.err());
  }
}
