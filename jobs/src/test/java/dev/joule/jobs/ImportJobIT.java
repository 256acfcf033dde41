package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.imports.ImportJob;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataTypes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** import from Parquet, CSV and JSON lines into Delta, with every bad row rejected for a reason. */
class ImportJobIT {

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

  ImportJob.Result run(String format, Path input, String embCol, String layout) {
    String out = tmp.resolve(format + "-" + layout + "-out").toString();
    return new ImportJob(spark).run(new ImportJob.Request(format, input.toString(), "id", embCol, out,
        out + "_rejects", layout, null));
  }

  Map<String, String> reasonsById(ImportJob.Result r) {
    return spark.read().format("delta").load(r.rejectsTable()).collectAsList().stream()
        .collect(Collectors.toMap(x -> String.valueOf(x.<Object>getAs("id")),
            x -> x.<String>getAs("reason").split(":")[0], (a, b) -> a + "," + b));
  }

  @Test
  void parquetWithArraysImportsGoodRowsAndRejectsTheRest() {
    Path in = tmp.resolve("in.parquet");
    spark.sql("SELECT * FROM VALUES "
        + "(1L, array(0.1D, 0.2D, 0.3D)), (2L, array(1D, 2D, 3D)), (3L, NULL), "
        + "(4L, array(1D, 2D)), (5L, array(1D, CAST('NaN' AS DOUBLE), 3D)), (2L, array(7D, 8D, 9D)), "
        + "(NULL, array(1D, 2D, 3D)), (6L, array(1D, NULL, 3D)) AS t(id, embedding)")
        .coalesce(1).write().parquet(in.toString());
    ImportJob.Result r = run("parquet", in, "embedding", "array");
    assertEquals(8, r.rowsIn());
    assertEquals(2, r.imported());
    assertEquals(6, r.rejected());
    assertEquals(3, r.dim());
    Map<String, String> reasons = reasonsById(r);
    assertEquals("null_embedding", reasons.get("3"));
    assertEquals("wrong_dim", reasons.get("4"));
    assertEquals("non_finite", reasons.get("5"));
    assertEquals("duplicate_id", reasons.get("2"));
    assertEquals("null_id", reasons.get("null"));
    assertEquals("null_element", reasons.get("6"));
    assertEquals(DataTypes.createArrayType(DataTypes.FloatType, true).simpleString(),
        spark.read().format("delta").load(r.table()).schema().apply("embedding").dataType().simpleString());
    // The first occurrence of a duplicated id wins.
    List<Row> two = spark.read().format("delta").load(r.table()).filter("id = 2").collectAsList();
    assertEquals(1, two.size());
    assertEquals(1.0f, two.get(0).<Object>getList(1).get(0));
  }

  @Test
  void csvWithOneColumnPerDimensionToBinaryLayout() throws Exception {
    Path in = tmp.resolve("in.csv");
    Files.writeString(in, String.join("\n",
        "id,emb_0,emb_1,emb_2,note",
        "a,0.5,1.5,-2,ok",
        "b,1,abc,3,unparseable",
        "c,1,,3,empty",
        "d,1,2,3,ok",
        "e,inf,2,3,infinite", ""));
    ImportJob.Result r = run("csv", in, "emb_", "binary");
    assertEquals(5, r.rowsIn());
    assertEquals(2, r.imported());
    Map<String, String> reasons = reasonsById(r);
    assertEquals(Map.of("b", "unparseable", "c", "null_element", "e", "non_finite"), reasons);
    Row a = spark.read().format("delta").load(r.table()).filter("id = 'a'").head();
    assertTrue(a.schema().apply("embedding").dataType() instanceof BinaryType);
    byte[] packed = a.getAs("embedding");
    java.nio.FloatBuffer f = java.nio.ByteBuffer.wrap(packed).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    assertEquals(0.5f, f.get(0));
    assertEquals(-2f, f.get(2));
  }

  @Test
  void jsonLinesWithAMalformedLine() throws Exception {
    Path in = tmp.resolve("in.jsonl");
    Files.writeString(in, String.join("\n",
        "{\"id\": 10, \"embedding\": [1, 2, 3]}",
        "{\"id\": 11, \"embedding\": [1.5, 2.5, 3.5]}",
        "{\"id\": 12, \"embedding\": [1.5, 2.5",
        "{\"id\": 13, \"embedding\": \"[4, 5, 6]\"}",
        "{\"id\": 14}", ""));
    ImportJob.Result r = run("jsonl", in, "embedding", "array");
    assertEquals(5, r.rowsIn());
    assertEquals(r.rowsIn(), r.imported() + r.rejected());
    Map<String, String> reasons = reasonsById(r);
    assertTrue(reasons.containsValue("unparseable"), reasons.toString());
    assertTrue(reasons.containsKey("14"), reasons.toString());
  }

  @Test
  void missingColumnsAreNamed() throws Exception {
    Path in = tmp.resolve("cols.csv");
    Files.writeString(in, "key,x0\n1,2\n");
    JouleException noId = assertThrows(JouleException.class, () -> run("csv", in, "emb_", "array"));
    assertTrue(noId.getMessage().contains("no id column 'id' (columns: key, x0)"), noId.getMessage());
    Path in2 = tmp.resolve("cols2.csv");
    Files.writeString(in2, "id,x0\n1,2\n");
    JouleException noEmb = assertThrows(JouleException.class, () -> run("csv", in2, "emb_", "array"));
    assertTrue(noEmb.getMessage().contains("no embedding column 'emb_'"), noEmb.getMessage());
    assertEquals(JouleException.INPUT, noEmb.exitCode());
  }
}
