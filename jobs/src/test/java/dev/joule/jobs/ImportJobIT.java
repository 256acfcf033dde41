package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.imports.ImportJob;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.DiskFullFileSystem;
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

  ImportJob.Result run(String name, String format, Path input, String embCol, Integer dim) {
    String out = tmp.resolve(name).toString();
    return new ImportJob(spark).run(new ImportJob.Request(format, input.toString(), "id", embCol, out,
        out + "_rejects", "array", dim));
  }

  /** The rejects, as "line: reason", in line order. */
  List<String> rejectsByLine(ImportJob.Result r) {
    return spark.read().format("delta").load(r.rejectsTable()).orderBy("source_file", "source_line").collectAsList()
        .stream().map(x -> x.<Long>getAs("source_line") + ": " + x.<String>getAs("reason")).toList();
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

  @Test
  void csvIsReadAsRfc4180AndEachBadRecordIsOneRejectNamingItsLine() throws Exception {
    Path in = tmp.resolve("rfc4180.csv");
    Files.writeString(in, "id,emb_0,emb_1,note\n" // line 1
        + "\"a\nb\",1,2,x\n" // lines 2-3: a quoted id with a line break in it
        + "\"say \"\"hi\"\"\",3,4,\"two\nlines\"\n" // lines 4-5: doubled quotes, a note on two lines
        + "c,1,2,x,extra\n" // 6
        + "d,1\n" // 7
        + "\"e\"x,1,2,n\n" // 8: a character after a closing quote
        + "f,0x1p3,2,n\n" // 9
        + "g,1.5f,2,n\n" // 10
        + "h,1e39,2,n\n" // 11
        + "i,1,2,n\n"); // 12
    ImportJob.Result r = run("rfc4180", "csv", in, "emb_", null);
    assertEquals(9, r.rowsIn());
    assertEquals(3, r.imported());
    Map<String, String> notes = spark.read().format("delta").load(r.table()).collectAsList().stream()
        .collect(Collectors.toMap(x -> x.<String>getAs("id"), x -> x.<String>getAs("note")));
    assertEquals(Map.of("a\nb", "x", "say \"hi\"", "two\nlines", "i", "n"), notes);
    String file = in.toString();
    assertEquals(List.of(
        "6: extra_fields: line 6 of " + file + " has 5 fields, the header has 4",
        "7: missing_fields: line 7 of " + file + " has 2 fields, the header has 4",
        "8: unparseable: line 8 of " + file + " is not valid CSV: a character follows a closing quote "
            + "(RFC 4180 allows only a comma or a line break there)",
        "9: unparseable: column emb_0 value '0x1p3' is not a number",
        "10: unparseable: column emb_0 value '1.5f' is not a number",
        "11: non_finite: column emb_0 value '1e39' is beyond the float range"), rejectsByLine(r));
  }

  @Test
  void jsonLinesAreReadLineByLineAndABadLineIsOneRejectWithItsLine() throws Exception {
    Path in = tmp.resolve("lines.jsonl");
    Files.writeString(in, String.join("\n",
        "{\"id\": 1, \"embedding\": [1, 2]}",
        "{\"id\": 2, \"embedding\": [1, \"x\"]}", // one element is no number: this row only
        "{\"id\": 3, \"embedding\": [1, 2", // broken JSON
        "", // a blank line is no row
        "[1, 2]", // JSON, but not an object
        "{\"id\": 6, \"embedding\": [3, 4]}",
        "{\"id\": 6, \"embedding\": [5, 6]}", ""));
    ImportJob.Result r = run("lines", "jsonl", in, "embedding", null);
    assertEquals(6, r.rowsIn());
    assertEquals(2, r.imported());
    String file = in.toString();
    assertEquals(List.of(
        "2: unparseable: embedding[1] value 'x' is not a number",
        "3: unparseable: line 3 of " + file + " is not a JSON object",
        "5: unparseable: line 5 of " + file + " is not a JSON object",
        "7: duplicate_id: id 6 also on line 6, imported from there"), rejectsByLine(r));
    Row six = spark.read().format("delta").load(r.table()).filter("id = 6").head();
    assertEquals(3.0f, six.<Object>getList(1).get(0));
  }

  @Test
  void aDuplicateIdIsImportedFromItsFirstValidOccurrenceInFileOrder() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("dup-csv"));
    Files.writeString(dir.resolve("part-1.csv"), "id,emb_0,emb_1\na,1,2\nb,1\nb,3,4\na,5,6\n");
    Files.writeString(dir.resolve("part-2.csv"), "id,emb_0,emb_1\nc,1,1\na,7,8\n");
    ImportJob.Result r = run("dup", "csv", dir, "emb_", null);
    assertEquals(6, r.rowsIn());
    Map<String, Float> first = spark.read().format("delta").load(r.table()).collectAsList().stream()
        .collect(Collectors.toMap(x -> x.<String>getAs("id"), x -> (Float) x.<Object>getList(1).get(0)));
    // b's first line is rejected for itself; its next line is b's first valid one.
    assertEquals(Map.of("a", 1f, "b", 3f, "c", 1f), first);
    List<String> rejects = rejectsByLine(r);
    assertEquals(3, rejects.size(), rejects.toString());
    assertTrue(rejects.get(0).startsWith("3: missing_fields: line 3 of "), rejects.toString());
    assertEquals("5: duplicate_id: id a also on line 2, imported from there", rejects.get(1));
    assertEquals("3: duplicate_id: id a also on line 2 of " + dir.resolve("part-1.csv") + ", imported from there",
        rejects.get(2));
  }

  @Test
  void binaryIdsAreImportedAsLowercaseHex() {
    Path in = tmp.resolve("binary-ids.parquet");
    spark.sql("SELECT * FROM VALUES (X'00FF', array(1D, 2D)), (X'0A', array(3D, 4D)), (X'00ff', array(5D, 6D)) "
        + "AS t(id, embedding)").coalesce(1).write().parquet(in.toString());
    ImportJob.Result r = run("binary-ids", "parquet", in, "embedding", null);
    assertEquals(3, r.rowsIn());
    assertEquals(2, r.imported());
    List<String> ids = spark.read().format("delta").load(r.table()).orderBy("id").collectAsList().stream()
        .map(x -> x.<String>getAs("id")).toList();
    assertEquals(List.of("00ff", "0a"), ids);
    assertEquals(List.of("3: duplicate_id: id 00ff also on row 1, imported from there"), rejectsByLine(r));
  }

  @Test
  void anImportThatRejectsEveryRowIsAnInputErrorAndWritesNothing() throws Exception {
    Path in = tmp.resolve("dim16.csv");
    StringBuilder csv = new StringBuilder("id");
    for (int d = 0; d < 16; d++) {
      csv.append(",emb_").append(d);
    }
    for (int i = 0; i < 5; i++) {
      csv.append("\nr").append(i);
      for (int d = 0; d < 16; d++) {
        csv.append(",0.5");
      }
    }
    Files.writeString(in, csv.append('\n').toString());
    JouleException e = assertThrows(JouleException.class, () -> run("dim17", "csv", in, "emb_", 17));
    assertEquals(JouleException.INPUT, e.exitCode());
    assertTrue(e.getMessage().startsWith("every row of input " + in + " was rejected (5: wrong_dim 5), so nothing was "
        + "written; the first: wrong_dim: embedding has 16 values, expected 17 (line 2 of " + in + ")"), e.getMessage());
    assertFalse(Files.exists(tmp.resolve("dim17")));
    assertFalse(Files.exists(tmp.resolve("dim17_rejects")));

    CliIT.Run cli = CliIT.joule("import", "--format", "csv", "--input", in.toString(), "--embedding-col", "emb_",
        "--dim", "17", "--out", tmp.resolve("dim17-cli").toString());
    assertEquals(3, cli.code(), cli.err());
    assertTrue(cli.err().startsWith("joule: error: every row of input"), cli.err());
    assertFalse(Files.exists(tmp.resolve("dim17-cli")));
  }

  /** Item 6: a full disk during import is one error line and exit code 1, not an uncaught FSError. */
  @Test
  void aFullDiskIsOneErrorLine() throws Exception {
    Path in = tmp.resolve("small.csv");
    Files.writeString(in, "id,emb_0,emb_1\na,1,2\nb,3,4\n");
    Configuration hadoop = spark.sparkContext().hadoopConfiguration();
    hadoop.set("fs." + DiskFullFileSystem.SCHEME + ".impl", DiskFullFileSystem.class.getName());
    hadoop.setBoolean("fs." + DiskFullFileSystem.SCHEME + ".impl.disable.cache", true);
    try {
      String out = DiskFullFileSystem.SCHEME + "://" + tmp.resolve("full-disk");
      CliIT.Run r = CliIT.joule("import", "--format", "csv", "--input", in.toString(), "--embedding-col", "emb_",
          "--out", out);
      assertEquals(JouleException.OTHER, r.code(), r.err());
      List<String> lines = r.err().lines().toList();
      assertEquals(1, lines.stream().filter(l -> l.startsWith("joule: error: ")).count(), r.err());
      assertTrue(lines.get(0).startsWith("joule: error: no space left on device"), r.err());
      assertFalse(lines.stream().anyMatch(l -> l.startsWith("\tat ") || l.startsWith("Caused by")), r.err());
      assertTrue(lines.size() <= 2, r.err());
    } finally {
      hadoop.unset("fs." + DiskFullFileSystem.SCHEME + ".impl");
      hadoop.unset("fs." + DiskFullFileSystem.SCHEME + ".impl.disable.cache");
    }
  }
}
