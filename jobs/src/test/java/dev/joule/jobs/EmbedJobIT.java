package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.encoder.EncoderCache;
import dev.joule.encoder.EncoderModel;
import dev.joule.encoder.TextHash;
import dev.joule.jobs.embed.EmbedJob;
import dev.joule.udfs.embed.LongText;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** joule embed on real local Spark and Delta: every row embedded or rejected, vectors as the encoder makes them. */
class EmbedJobIT {

  @TempDir static Path tmp;
  static SparkSession spark;
  static final String LONG = "Debian package description with many words, repeated. ".repeat(40);

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  /** JSON lines with every kind of bad row beside good ones. */
  static Path texts() throws Exception {
    Path in = tmp.resolve("texts.jsonl");
    Files.writeString(in, String.join("\n",
        "{\"id\": \"a\", \"text\": \"GNU C Library: shared libraries\", \"section\": \"libs\"}",
        "{\"id\": \"b\", \"text\": \"Real-time strategy game of ancient warfare\", \"section\": \"games\"}",
        "{\"id\": \"c\", \"text\": null, \"section\": \"doc\"}",
        "{\"id\": \"d\", \"text\": \"   \", \"section\": \"doc\"}",
        "{\"id\": null, \"text\": \"no id\", \"section\": \"doc\"}",
        "{\"id\": \"e\", \"text\": \"twice\", \"section\": \"doc\"}",
        "{\"id\": \"e\", \"text\": \"twice again\", \"section\": \"doc\"}",
        "{\"id\": \"f\", \"text\": \"" + LONG + "\", \"section\": \"devel\"}",
        "this line is not json",
        "{\"id\": \"g\", \"text\": \"Python 3 bindings for the Apache Arrow columnar format\", \"section\": \"python\"}"),
        StandardCharsets.UTF_8);
    return in;
  }

  EmbedJob.Result embed(Path input, String out, EncoderModel model, LongText longText) {
    return new EmbedJob(spark, TestSpark.config(tmp)).run(new EmbedJob.Request(input.toString(), EmbedJob.Format.AUTO,
        "text", "id", out, model, 3, longText, null));
  }

  Map<String, String> reasons(String out) {
    return spark.read().format("delta").load(out + "/rejects").collectAsList().stream()
        .collect(Collectors.toMap(r -> String.valueOf(r.<Object>getAs("id")), r -> r.<String>getAs("reason"),
            (a, b) -> a + " | " + b));
  }

  @Test
  void everyRowIsEmbeddedOrRejectedForAReasonAndVectorsAreTheEncoders() throws Exception {
    String out = tmp.resolve("out").toString();
    EmbedJob.Result r = embed(texts(), out, EncoderModel.ALL_MINILM_L6_V2, LongText.TRUNCATE);
    assertEquals(10, r.run().rowsIn());
    assertEquals(4, r.run().rowsScored(), "a, b, f (cut), g");
    assertEquals(6, r.run().rowsRejected());
    assertEquals(1, r.truncated());

    Map<String, String> why = reasons(out);
    assertTrue(why.get("c").startsWith("null_text:"), why.toString());
    assertTrue(why.get("d").startsWith("empty_text:"), why.toString());
    assertEquals("duplicate_id: id e is on 2 rows of the input; none of them is scored", why.get("e").split(" \\| ")[0]);
    assertTrue(why.get("e").contains(" | "), "both rows of e: " + why);
    assertTrue(why.get("null").contains("null_id: id is null") && why.get("null").contains("unparseable: line 9"),
        "the null id and the line that is not JSON: " + why);

    List<Row> rows = spark.read().format("delta").load(out + "/embeddings").orderBy("id").collectAsList();
    assertEquals(List.of("a", "b", "f", "g"), rows.stream().map(x -> x.<String>getAs("id")).toList());
    Map<String, String> text = Map.of("a", "GNU C Library: shared libraries", "b",
        "Real-time strategy game of ancient warfare", "f", LONG, "g",
        "Python 3 bindings for the Apache Arrow columnar format");
    for (Row x : rows) {
      String id = x.getAs("id");
      float[] expected = EncoderCache.get(EncoderModel.ALL_MINILM_L6_V2).encode(List.of(text.get(id))).vectors()[0];
      List<Float> got = x.getList(x.fieldIndex("embedding"));
      float[] v = new float[got.size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = got.get(i);
      }
      assertArrayEquals(expected, v, 1e-5f, id);
      assertEquals(TextHash.of(text.get(id)), x.getAs("text_hash"));
      assertEquals("all-minilm-l6-v2", x.getAs("model"));
      assertEquals(id.equals("f"), x.<Integer>getAs("tokens") > EncoderModel.MAX_TOKENS, id);
      assertEquals(r.run().runId(), x.getAs("run_id"));
    }
    // The table records the largest |x| of each dimension over the vectors (its dimension scales).
    float[] max = new float[EncoderModel.DIM];
    for (Row x : rows) {
      List<Float> got = x.getList(x.fieldIndex("embedding"));
      for (int c = 0; c < max.length; c++) {
        max[c] = Math.max(max[c], Math.abs(got.get(c)));
      }
    }
    assertEquals(dev.joule.bridge.kernel.DimensionScales.ofMaxAbs(max),
        EmbedJob.dimensionScales(spark, out + "/embeddings",
            dev.joule.jobs.delta.DeltaIO.latestVersion(spark, out + "/embeddings"), EncoderModel.DIM));
    assertEquals("devel", rows.get(2).getAs("section"), "the input's other columns are kept, the text is not");
    assertEquals(-1, rows.get(0).schema().getFieldIndex("text").getOrElse(() -> -1));

    Row run = spark.read().format("delta").load(out + "/runs").head();
    assertEquals("embed", run.getAs("job"));
    assertEquals(10L, run.<Long>getAs("rows_in"));
    assertTrue(run.<String>getAs("source_changes").equals("the whole input, 10 rows; 1 texts over 256 word "
        + "pieces embedded from their first 256 (all-minilm-l6-v2)"), run.toString());
    List<Row> energy = spark.read().format("delta").load(out + "/energy_log").collectAsList();
    assertEquals(10L, energy.stream().mapToLong(e -> e.<Long>getAs("rows_in")).sum(), "one row per partition, all rows");
    assertTrue(energy.stream().allMatch(e -> e.<String>getAs("kernel").equals("all-minilm-l6-v2")
        && e.<Long>getAs("kernel_cpu_ns") > 0));
  }

  @Test
  void aRerunReplacesItsModelsRowsAndLongTextsCanBeRejected() throws Exception {
    String out = tmp.resolve("rerun").toString();
    Path in = texts();
    embed(in, out, EncoderModel.ALL_MINILM_L6_V2_Q, LongText.TRUNCATE);
    EmbedJob.Result second = embed(in, out, EncoderModel.ALL_MINILM_L6_V2_Q, LongText.REJECT);
    assertEquals(3, second.run().rowsScored());
    List<Row> rows = spark.read().format("delta").load(out + "/embeddings").collectAsList();
    assertEquals(3, rows.size(), "the second run's rows only: " + rows);
    assertTrue(rows.stream().allMatch(x -> x.<String>getAs("run_id").equals(second.run().runId())));
    Map<String, String> why = reasons(out);
    assertEquals(7, spark.read().format("delta").load(out + "/rejects").count(), "the second run's rejects only");
    assertTrue(why.get("f").startsWith("text_too_long: "), why.toString());
    assertTrue(why.get("f").contains("all-minilm-l6-v2-q reads 256"), why.toString());
    assertEquals(2, spark.read().format("delta").load(out + "/runs").count());
  }

  @Test
  void aDeltaTableWithIntIdsIsEmbeddedAndWrongColumnsAreNamed() {
    String in = tmp.resolve("delta-in").toString();
    spark.sql("SELECT * FROM VALUES (1, 'libraries for the C language', 'libs'), (2, 'a puzzle game', 'games') "
        + "AS t(pkg, description, section)").write().format("delta").save(in);
    String out = tmp.resolve("delta-out").toString();
    EmbedJob.Result r = new EmbedJob(spark, TestSpark.config(tmp)).run(new EmbedJob.Request(in, EmbedJob.Format.AUTO,
        "description", "pkg", out, EncoderModel.ALL_MINILM_L6_V2, 64, LongText.TRUNCATE, List.of()));
    assertEquals(2, r.run().rowsScored());
    assertEquals(0, r.run().inputVersion());
    Row first = spark.read().format("delta").load(out + "/embeddings").orderBy("id").head();
    assertEquals(1, first.<Integer>getAs("id"));
    assertEquals(7, first.size(), "--keep '' keeps no other column");

    JouleException e = assertThrows(JouleException.class, () -> new EmbedJob(spark, TestSpark.config(tmp))
        .run(new EmbedJob.Request(in, EmbedJob.Format.AUTO, "text", "pkg", tmp.resolve("x").toString(),
            EncoderModel.ALL_MINILM_L6_V2, 64, LongText.TRUNCATE, null)));
    assertEquals("input " + in + " has no column 'text' (--text-col); its columns: pkg, description, section",
        e.getMessage());
  }
}
