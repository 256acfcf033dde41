package dev.joule.jobs;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.expr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.nightly.NightlyJob;
import io.delta.tables.DeltaTable;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Nights over a table of texts: each embeds only the texts that changed, then scores only those rows. */
class NightlyTextIT {

  static final LocalDate DAY1 = LocalDate.parse("2026-11-01");

  @TempDir static Path tmp;
  static SparkSession spark;
  static Path model;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    // Any 384-input model will do: the test is about which rows are embedded and scored.
    model = new GenerateJob(spark).run(new GenerateJob.Request(200, 384, 4, tmp.resolve("gen").toString(), "array",
        7, 0.3)).model();
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  NightlyJob.Result night(String texts, String out, LocalDate d) {
    return new NightlyJob(spark, TestSpark.config(tmp, "nightly.text.source=" + texts,
        "nightly.source=" + out + "/embeddings", "nightly.model=" + model, "nightly.output=" + out,
        "nightly.precision=fp32", "nightly.text.batch=8")).run(new NightlyJob.Request(d, false, false));
  }

  Map<Long, String> embeddedBy(String out) {
    return spark.read().format("delta").load(out + "/embeddings").collectAsList().stream()
        .collect(Collectors.toMap(r -> r.<Long>getAs("id"), r -> r.<String>getAs("run_id")));
  }

  @Test
  void aNightEmbedsOnlyChangedTextsAndScoresOnlyThoseRows() {
    String texts = tmp.resolve("texts").toString();
    spark.sql("SELECT id, CASE WHEN id = 39 THEN NULL ELSE concat('Debian package ', id, ' provides tools for ', "
        + "element_at(array('parsing XML', 'playing chess', 'compiling C', 'sending mail'), CAST(id % 4 + 1 AS INT))) "
        + "END AS text, CAST(id % 4 AS STRING) AS section FROM range(40)")
        .write().format("delta").option("delta.enableChangeDataFeed", "true").save(texts);
    String out = tmp.resolve("out").toString();

    NightlyJob.Result first = night(texts, out, DAY1);
    assertEquals(39, first.text().embedded());
    assertEquals(1, first.text().rejected(), "the NULL text");
    assertEquals(39, first.scored());
    Map<Long, String> before = embeddedBy(out);
    assertEquals(39, before.size());

    // A day of changes: 2 texts rewritten, 3 rows added, 1 deleted, 1 row changed but not its text.
    DeltaTable t = DeltaTable.forPath(spark, texts);
    t.update(expr("id IN (3, 4)"), Map.of("text", expr("concat(text, ', now with a manual')")));
    t.update(expr("id = 5"), Map.of("section", expr("'moved'")));
    t.delete(expr("id = 6"));
    spark.sql("SELECT id, concat('New package ', id, ' for image editing') AS text, 'graphics' AS section "
        + "FROM range(40, 43)").write().format("delta").mode("append").save(texts);

    NightlyJob.Result second = night(texts, out, DAY1.plusDays(1));
    assertEquals(6, second.text().changed(), "3, 4, the 3 new rows, and the NULL text, which is never embedded");
    assertEquals(5, second.text().embedded());
    assertEquals(1, second.text().deleted());
    assertEquals(42, second.text().texts());
    assertEquals("cdf", second.scanMode(), "the scoring step reads the embeddings' change feed");
    assertEquals(5, second.scored(), "only the re-embedded rows are scored");
    assertEquals(1, second.deleted(), "the deleted id's prediction goes");

    Map<Long, String> after = embeddedBy(out);
    assertEquals(41, after.size());
    for (long id = 0; id < 39; id++) {
      if (id == 6) {
        assertTrue(!after.containsKey(6L), "deleted at the source");
      } else if (id == 3 || id == 4) {
        assertEquals(second.text().runId(), after.get(id), "re-embedded: " + id);
      } else {
        assertEquals(before.get(id), after.get(id), "reused, not recomputed: " + id);
      }
    }
    assertEquals(41, spark.read().format("delta").load(out + "/predictions").count());

    NightlyJob.Result third = night(texts, out, DAY1.plusDays(2));
    assertEquals(0, third.text().embedded());
    assertEquals(0, third.scored());
    assertEquals("none", third.scanMode());

    // A day of deletions alone.
    t.delete(expr("id = 7"));
    NightlyJob.Result fourth = night(texts, out, DAY1.plusDays(3));
    assertEquals(0, fourth.text().embedded());
    assertEquals(1, fourth.text().deleted());
    assertEquals(1, fourth.deleted(), "its prediction goes too");
    assertEquals(40, embeddedBy(out).size());
    assertEquals(40, spark.read().format("delta").load(out + "/predictions").count());

    List<Row> embedRuns = spark.read().format("delta").load(out + "/runs").filter(col("job").equalTo("nightly-embed"))
        .orderBy("finished_at").collectAsList();
    assertEquals(4, embedRuns.size());
    assertEquals("6 of 42 texts new or changed: 5 embedded, 1 rejected; 36 reused unchanged; 1 deleted at the source",
        second.textSummary());
    assertEquals(second.textSummary(), embedRuns.get(1).getAs("source_changes"));
    assertEquals(5L, embedRuns.get(1).<Long>getAs("rows_scored"));
  }
}
