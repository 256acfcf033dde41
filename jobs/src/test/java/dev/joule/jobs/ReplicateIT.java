package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.jobs.generate.GenerateJob;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code joule train} and {@code joule replicate} through the CLI on real local Spark: MLlib
 * trains on a generated table, Joule imports its model, and replicate compares MLlib's own
 * transform with Joule at each precision on the same rows.
 */
class ReplicateIT {

  @TempDir static Path tmp;
  static SparkSession spark;
  static String input;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    input = new GenerateJob(spark).run(
        new GenerateJob.Request(2400, 24, 4, tmp.resolve("gen").toString(), "array", 5, 0.4)).embeddings();
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  static CliIT.Run joule(String... args) {
    return CliIT.joule(args);
  }

  static JsonNode variant(JsonNode summary, String name) {
    for (JsonNode v : summary.path("variants")) {
      if (v.path("variant").asText().equals(name)) {
        return v;
      }
    }
    throw new AssertionError("no variant " + name + " in " + summary);
  }

  @Test
  void logisticRegressionTrainedImportedAndReplicated() throws Exception {
    Path model = tmp.resolve("lr/model.json");
    CliIT.Run t = joule("train", "--input", input, "--label-col", "label", "--algo", "lr", "--max-iter", "30", "--out", model.toString());
    assertEquals(0, t.code(), t.err());
    System.out.print(t.out());
    assertTrue(t.out().contains("trained LogisticRegressionModel on 2,400 of 2,400 rows"), t.out());
    String mllib = tmp.resolve("lr/model.mllib").toString();
    assertTrue(Files.isDirectory(Path.of(mllib, "metadata")), "MLlib's own save");
    ModelSpec spec = LinearModelFile.readAny(model);
    assertEquals(List.of("class_00", "class_01", "class_02", "class_03"),
        spec.kernel(dev.joule.bridge.kernel.Precision.FP32).labels(), "labels are the label column's values");

    Path summary = tmp.resolve("lr/replicate.json");
    CliIT.Run r = joule("replicate", "--input", input, "--mllib", mllib, "--model", model.toString(),
        "--precisions", "fp32,int8,int4,binary", "--warmup-rows", "300", "--work", tmp.resolve("work").toString(),
        "--summary-json", summary.toString());
    assertEquals(0, r.code(), r.err());
    System.out.print(r.out());
    assertTrue(r.out().contains("| MLlib LogisticRegressionModel.transform | "), r.out());
    assertTrue(r.out().contains("estimated_cputime"), r.out());
    JsonNode s = new ObjectMapper().readTree(summary.toFile());
    assertEquals(2400, s.path("rows").asLong());
    JsonNode fp32 = variant(s, "Joule fp32");
    assertEquals(1.0, fp32.path("top1_agreement_with_baseline").asDouble(), "fp32 predicts what MLlib predicts");
    assertTrue(fp32.path("max_abs_prob_error").asDouble() < 1e-6, "fp32 |dp| " + fp32.path("max_abs_prob_error"));
    JsonNode int8 = variant(s, "Joule int8");
    assertTrue(int8.path("top1_agreement_with_baseline").asDouble() >= 0.995, int8.toString());
    assertTrue(int8.path("max_abs_prob_error").asDouble() > 0, "int8 is not bit-identical: " + int8);
    assertTrue(int8.path("rows_per_second").asDouble() > 0 && int8.path("task_cpu_seconds").asDouble() > 0);
    JsonNode binary = variant(s, "Joule binary");
    assertFalse(binary.path("ran").asBoolean());
    assertTrue(binary.path("note").asText().contains("not binary"), binary.toString());
    JsonNode base = s.path("variants").path(0);
    assertEquals("MLlib LogisticRegressionModel.transform", base.path("variant").asText());
    assertEquals(1.0, base.path("ratio_task_cpu").asDouble(), 1e-12);
    assertFalse(Files.exists(tmp.resolve("work")), "replicate removes the scratch folder it created");
  }

  @Test
  void mlpAndKmeansReplicateFromTheMllibFolderAlone() throws Exception {
    Path mlp = tmp.resolve("mlp/model.json");
    CliIT.Run t = joule("train", "--input", input, "--label-col", "label", "--algo", "mlp", "--hidden", "8",
        "--max-iter", "60", "--out", mlp.toString());
    assertEquals(0, t.code(), t.err());
    Path summary = tmp.resolve("mlp/replicate.json");
    CliIT.Run r = joule("replicate", "--input", input, "--mllib", tmp.resolve("mlp/model.mllib").toString(),
        "--precisions", "fp32,int8", "--sample", "1000", "--warmup-rows", "0",
        "--work", tmp.resolve("work").toString(), "--summary-json", summary.toString());
    assertEquals(0, r.code(), r.err());
    System.out.print(r.out());
    JsonNode s = new ObjectMapper().readTree(summary.toFile());
    assertEquals(1000, s.path("rows").asLong(), "--sample 1000");
    JsonNode fp32 = variant(s, "Joule fp32");
    assertEquals(1.0, fp32.path("top1_agreement_with_baseline").asDouble());
    assertTrue(fp32.path("max_abs_prob_error").asDouble() < 1e-6, fp32.toString());

    Path km = tmp.resolve("km/model.json");
    t = joule("train", "--input", input, "--algo", "kmeans", "--k", "4", "--out", km.toString());
    assertEquals(0, t.code(), t.err());
    summary = tmp.resolve("km/replicate.json");
    r = joule("replicate", "--input", input, "--mllib", tmp.resolve("km/model.mllib").toString(),
        "--precisions", "fp32,int8", "--warmup-rows", "0", "--work", tmp.resolve("work").toString(),
        "--summary-json", summary.toString());
    assertEquals(0, r.code(), r.err());
    s = new ObjectMapper().readTree(summary.toFile());
    assertEquals(1.0, variant(s, "Joule fp32").path("top1_agreement_with_baseline").asDouble(), "same clusters");
    assertTrue(variant(s, "Joule fp32").path("max_abs_prob_error").isNull(), "k-means scores are not probabilities");
  }

  @Test
  void badRequestsNameWhatIsWrong() {
    CliIT.Run noLabel = joule("train", "--input", input, "--label-col", "nope", "--out", tmp.resolve("x.json").toString());
    assertEquals(3, noLabel.code());
    assertTrue(noLabel.err().contains("has no label column 'nope'"), noLabel.err());
    CliIT.Run needsLabel = joule("train", "--input", input, "--algo", "mlp", "--out", tmp.resolve("x.json").toString());
    assertEquals(2, needsLabel.code());
    assertTrue(needsLabel.err().contains("--label-col is required for --algo mlp"), needsLabel.err());
    CliIT.Run noModel = joule("replicate", "--input", input);
    assertEquals(2, noModel.code());
    CliIT.Run notMllib = joule("replicate", "--input", input, "--mllib", tmp.resolve("gen").toString());
    assertEquals(3, notMllib.code());
    assertTrue(notMllib.err().contains("not an MLlib model folder"), notMllib.err());
  }
}
