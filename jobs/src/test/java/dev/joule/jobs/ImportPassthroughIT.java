package dev.joule.jobs;

import static dev.joule.jobs.CliIT.joule;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.CliIT.Run;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A user's labelled embeddings through the CLI: import keeps the label (and the other columns),
 * train learns from it, and score and nightly carry it into predictions; bad rows are still rejected.
 */
class ImportPassthroughIT {

  @TempDir static Path tmp;
  static SparkSession spark;

  static final String[] CLASSES = {"bird", "cat", "dog"};
  static final int DIM = 8;
  static final int ROWS = 600;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  /** Clustered rows, a label and a note per row; then a bad number, an empty cell, a repeated id. */
  static Path labelledCsv() throws Exception {
    Random rnd = new Random(7);
    float[][] centers = new float[CLASSES.length][DIM];
    for (float[] c : centers) {
      for (int d = 0; d < DIM; d++) {
        c[d] = (float) rnd.nextGaussian() * 3;
      }
    }
    StringBuilder csv = new StringBuilder("id,label,note");
    for (int d = 0; d < DIM; d++) {
      csv.append(",emb_").append(d);
    }
    csv.append('\n');
    for (int i = 0; i < ROWS; i++) {
      int k = i % CLASSES.length;
      csv.append("r").append(i).append(',').append(CLASSES[k]).append(",note ").append(i);
      for (int d = 0; d < DIM; d++) {
        csv.append(',').append(String.format(Locale.ROOT, "%.4f", centers[k][d] + rnd.nextGaussian() * 0.3));
      }
      csv.append('\n');
    }
    String rest = ",1,2,3,4,5,6,7\n";
    csv.append("bad1,cat,x,abc").append(rest); // unparseable
    csv.append("bad2,cat,x,").append(rest); // null_element
    csv.append("r0,dog,again,0").append(rest); // duplicate_id
    Path in = tmp.resolve("labelled.csv");
    Files.writeString(in, csv.toString());
    return in;
  }

  static Dataset<Row> delta(String path) {
    return spark.read().format("delta").load(path);
  }

  static Map<String, String> rejectReasons(String path) {
    return delta(path).collectAsList().stream().collect(Collectors.toMap(r -> r.<String>getAs("id"),
        r -> r.<String>getAs("reason").split(":")[0]));
  }

  @Test
  void csvImportKeepsTheLabelTrainUsesItAndScoreCarriesIt() throws Exception {
    Path csv = labelledCsv();
    String table = tmp.resolve("imported").toString();
    Run imp = joule("import", "--format", "csv", "--input", csv.toString(), "--embedding-col", "emb_",
        "--out", table);
    assertEquals(0, imp.code(), imp.err());
    assertTrue(imp.out().contains("in 603, imported 600, rejected 3 (dim 8)"), imp.out());
    assertTrue(imp.out().contains("(id, embedding, label, note)"), imp.out());
    // The per-dimension columns are consumed; the others are kept, as CSV strings.
    assertEquals(List.of("id", "embedding", "label", "note"), Arrays.asList(delta(table).columns()));
    assertEquals(DataTypes.StringType, delta(table).schema().apply("label").dataType());
    assertEquals("cat", delta(table).filter("id = 'r1'").head().getAs("label"));
    assertEquals("note 0", delta(table).filter("id = 'r0'").head().getAs("note"), "the first r0 is kept");
    // Rejects are as before: every bad row, with its reason.
    assertEquals(Map.of("bad1", "unparseable", "bad2", "null_element", "r0", "duplicate_id"),
        rejectReasons(table + "_rejects"));

    Path model = tmp.resolve("lr.json");
    Run train = joule("train", "--input", table, "--label-col", "label", "--algo", "lr", "--out", model.toString());
    assertEquals(0, train.code(), train.err());
    assertTrue(train.out().contains("3 classes"), train.out());

    String out = tmp.resolve("scored").toString();
    // A name a predictions column has is refused, with the way to rename it.
    Run clash = joule("score", "--input", table, "--model", model.toString(), "--output", out,
        "--passthrough", "label");
    assertEquals(2, clash.code(), clash.err());
    assertTrue(clash.err().contains("passthrough column 'label' has the name of a predictions column"), clash.err());
    assertTrue(clash.err().contains("label:input_label"), clash.err());
    // A column the input lacks is refused, naming it and the columns there are.
    Run missing = joule("score", "--input", table, "--model", model.toString(), "--output", out,
        "--passthrough", "label:true_label,nope");
    assertEquals(2, missing.code(), missing.err());
    assertTrue(missing.err().contains("passthrough column 'nope' is not in input table"), missing.err());
    assertTrue(missing.err().contains("(columns: id, embedding, label, note)"), missing.err());
    assertFalse(Files.exists(Path.of(out, "predictions")), "nothing written");

    Run score = joule("score", "--input", table, "--model", model.toString(), "--output", out,
        "--passthrough", "label:true_label,note");
    assertEquals(0, score.code(), score.err());
    Dataset<Row> predictions = delta(out + "/predictions");
    assertEquals(List.of("true_label", "note"), Arrays.asList(predictions.columns()).subList(
        predictions.columns().length - 2, predictions.columns().length));
    assertEquals(600, predictions.count());
    // Every prediction carries its own row's label and note.
    Dataset<Row> in = delta(table).select(org.apache.spark.sql.functions.col("id").as("in_id"),
        org.apache.spark.sql.functions.col("label").as("in_label"),
        org.apache.spark.sql.functions.col("note").as("in_note"));
    Dataset<Row> joined = predictions.join(in, predictions.col("id").equalTo(in.col("in_id")));
    assertEquals(600, joined.count());
    assertEquals(0, joined.filter("true_label IS NULL OR NOT (true_label <=> in_label) OR NOT (note <=> in_note)")
        .count());
    double accuracy = predictions.filter("label = true_label").count() / 600.0;
    assertTrue(accuracy > 0.95, "the trained model predicts the label it learned from: " + accuracy);

    // The same through the config key, for a nightly run.
    String nightOut = tmp.resolve("night").toString();
    Run night = joule("nightly", "--date", "2025-01-05", "--set", "nightly.source=" + table,
        "--set", "nightly.model=" + model, "--set", "nightly.output=" + nightOut,
        "--set", "score.passthrough=label:true_label");
    assertEquals(0, night.code(), night.err());
    Dataset<Row> nightly = delta(nightOut + "/predictions");
    assertEquals(600, nightly.count());
    assertEquals(0, nightly.join(in, nightly.col("id").equalTo(in.col("in_id")))
        .filter("NOT (true_label <=> in_label)").count());
    // The next night MERGEs a changed row: its new label comes along.
    spark.sql("UPDATE delta.`" + table + "` SET label = 'changed' WHERE id = 'r1'");
    night = joule("nightly", "--date", "2025-01-06", "--set", "nightly.source=" + table,
        "--set", "nightly.model=" + model, "--set", "nightly.output=" + nightOut,
        "--set", "score.passthrough=label:true_label");
    assertEquals(0, night.code(), night.err());
    assertTrue(night.out().contains("rows in 1 = scored 1 + rejected 0"), night.out());
    nightly = delta(nightOut + "/predictions");
    assertEquals(600, nightly.count());
    assertEquals("changed", nightly.filter("id = 'r1'").head().getAs("true_label"));
    assertEquals("bird", nightly.filter("id = 'r0'").head().getAs("true_label"));
  }

  @Test
  void aRunTheGateSendsToAHigherPrecisionStillCarriesTheColumns() {
    // QualityGateIT's data: int4 rows on 16 dimensions miss the bar, so the run is scored again higher.
    String gen = tmp.resolve("gen").toString();
    Run g = joule("generate", "--rows", "3000", "--dim", "16", "--classes", "5", "--noise", "0.5", "--seed", "11",
        "--out", gen);
    assertEquals(0, g.code(), g.err());
    String out = tmp.resolve("fell-back").toString();
    Run score = joule("score", "--input", gen + "/embeddings", "--model", gen + "/teacher-model.json",
        "--precision", "int4", "--output", out, "--passthrough", "label:true_label",
        "--set", "quality.on-fail=fallback", "--set", QualityGateIT.INT4_ROWS);
    assertEquals(0, score.code(), score.err());
    Dataset<Row> predictions = delta(out + "/predictions");
    assertTrue(predictions.head().<String>getAs("kernel").endsWith("@int8")
        || predictions.head().<String>getAs("kernel").endsWith("@fp32"), predictions.head().toString());
    Dataset<Row> in = delta(gen + "/embeddings").selectExpr("id AS in_id", "label AS in_label");
    assertEquals(3000, predictions.join(in, predictions.col("id").equalTo(in.col("in_id")))
        .filter("true_label <=> in_label").count());
  }

  @Test
  void keepChoosesTheColumnsAndJsonAndParquetKeepTheirTypes() throws Exception {
    Path jsonl = tmp.resolve("in.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      lines.add("{\"id\": " + i + ", \"embedding\": [" + i + ", 1, 2], \"label\": " + (i % 2)
          + ", \"score\": " + (i * 0.5) + ", \"tags\": [\"a\", \"b\"]}");
    }
    lines.add("{\"id\": 9, \"embedding\": [1, 2");
    Files.writeString(jsonl, String.join("\n", lines) + "\n");
    String all = tmp.resolve("json-all").toString();
    Run r = joule("import", "--format", "jsonl", "--input", jsonl.toString(), "--out", all);
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("in 7, imported 6, rejected 1"), r.out());
    // JSON's inferred types are kept; the input's column order follows id and embedding.
    assertEquals("struct<id:bigint,embedding:array<float>,label:bigint,score:double,tags:array<string>>",
        delta(all).schema().simpleString());

    String some = tmp.resolve("json-some").toString();
    r = joule("import", "--format", "jsonl", "--input", jsonl.toString(), "--out", some, "--keep", "tags,label");
    assertEquals(0, r.code(), r.err());
    assertEquals(List.of("id", "embedding", "tags", "label"), Arrays.asList(delta(some).columns()));
    assertEquals(1L, delta(some).filter("id = 3").head().<Long>getAs("label"));

    String none = tmp.resolve("json-none").toString();
    r = joule("import", "--format", "jsonl", "--input", jsonl.toString(), "--out", none, "--keep", "");
    assertEquals(0, r.code(), r.err());
    assertEquals(List.of("id", "embedding"), Arrays.asList(delta(none).columns()));

    r = joule("import", "--format", "jsonl", "--input", jsonl.toString(), "--out", none, "--keep", "label,nope");
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("--keep nope: input " + jsonl + " has no column 'nope' (other columns: label, score, tags)"),
        r.err());

    // Parquet with another id column: a kept column named like the table's own id is refused.
    Path parquet = tmp.resolve("in.parquet");
    spark.sql("SELECT * FROM VALUES ('k1', 1L, array(1D, 2D), 'x'), ('k2', 2L, array(3D, 4D), 'y') "
        + "AS t(key, id, embedding, label)").coalesce(1).write().parquet(parquet.toString());
    String keyed = tmp.resolve("keyed").toString();
    r = joule("import", "--format", "parquet", "--input", parquet.toString(), "--id-col", "key", "--out", keyed);
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("input column 'id' cannot be kept: the imported table's own id column has that name; "
        + "list the columns to keep without it: --keep label"), r.err());
    r = joule("import", "--format", "parquet", "--input", parquet.toString(), "--id-col", "key", "--out", keyed,
        "--keep", "label", "--layout", "binary");
    assertEquals(0, r.code(), r.err());
    assertEquals("struct<id:string,embedding:binary,label:string>", delta(keyed).schema().simpleString());
    assertEquals("y", delta(keyed).filter("id = 'k2'").head().getAs("label"));
  }
}
