package dev.joule.jobs.imports;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How import reads numbers, text embeddings, CSV records and ids, without Spark. */
class ImportParsingTest {

  @Test
  void numbersAreStrictDecimals() {
    String[] good = {"1", "-1.5", "+.5", "1.", "0.25e3", "1E-5", " 2 ", "-0", "007", "3.4028235e38"};
    float[] values = {1f, -1.5f, .5f, 1f, 250f, 1e-5f, 2f, -0f, 7f, Float.MAX_VALUE};
    for (int i = 0; i < good.length; i++) {
      assertEquals(values[i], ImportJob.parseNumber(good[i]), good[i]);
    }
    for (String bad : new String[] {"0x1p3", "1.5f", "2d", "1_000", "", ".", "e5", "1e", "1e+", "--1", "+-1", "1,5",
        "1.2.3", "\u0661", "Infinityx", "1 2", "0x10", "1L"}) {
      assertThrows(NumberFormatException.class, () -> ImportJob.parseNumber(bad), "'" + bad + "'");
    }
    assertTrue(Float.isNaN(ImportJob.parseNumber("NaN")));
    assertEquals(Float.NEGATIVE_INFINITY, ImportJob.parseNumber("-inf"));
    assertEquals(Float.POSITIVE_INFINITY, ImportJob.parseNumber("Infinity"));
  }

  @Test
  void numberReasons() {
    float[] v = new float[1];
    assertNull(ImportJob.number("0.5", v, 0, "column emb_0"));
    assertEquals(0.5f, v[0]);
    assertEquals("unparseable: column emb_0 value '0x1p3' is not a number", ImportJob.number("0x1p3", v, 0, "column emb_0"));
    assertEquals("unparseable: column emb_0 value '1.5f' is not a number", ImportJob.number("1.5f", v, 0, "column emb_0"));
    assertEquals("non_finite: column emb_0 value '1e39' is beyond the float range", ImportJob.number("1e39", v, 0, "column emb_0"));
    assertNull(ImportJob.number("nan", v, 0, "e")); // read here, rejected as non_finite by the caller
  }

  @Test
  void textEmbeddings() {
    assertArrayEquals(new float[] {0.1f, 0.2f, 3f}, ImportJob.parseText("[0.1, 0.2, 3]", "e").values());
    assertArrayEquals(new float[] {1f, 2f}, ImportJob.parseText(" 1 2 ", "e").values());
    assertArrayEquals(new float[] {1f, 2f}, ImportJob.parseText("[1;2]", "e").values());
    assertEquals("unparseable: e[1] is empty", ImportJob.parseText("[1,,3]", "e").reason());
    assertEquals("unparseable: e[2] is empty", ImportJob.parseText("[1,2,]", "e").reason());
    assertEquals("unparseable: e[0] value '0x1p3' is not a number", ImportJob.parseText("[0x1p3]", "e").reason());
    assertTrue(ImportJob.parseText("[1, NaN]", "e").reason().startsWith("non_finite: e[1]"));
    assertEquals("unparseable: column e holds no numbers", ImportJob.parseText("[ ]", "e").reason());
  }

  @Test
  void binaryIdsAreLowercaseHex() {
    assertEquals("00ff10ab", ImportJob.idText(new byte[] {0, -1, 16, (byte) 0xAB}));
    assertEquals("", ImportJob.idText(new byte[0]));
    assertEquals("12", ImportJob.idText(12L));
  }

  static List<CsvRecords.Record> csv(String text) throws IOException {
    List<CsvRecords.Record> out = new ArrayList<>();
    try (CsvRecords rs = new CsvRecords(new StringReader(text))) {
      rs.forEachRemaining(out::add);
    }
    return out;
  }

  static String show(CsvRecords.Record r) {
    return r.line() + ":" + (r.error() != null ? "ERROR " + r.error() : String.join("|", r.fields()));
  }

  @Test
  void csvFollowsRfc4180() throws IOException {
    List<CsvRecords.Record> rs = csv("id,emb_0,note\r\n"
        + "\"a\nb\",1,x\r\n" // a line break inside a quoted id
        + "\"say \"\"hi\"\"\",2,\"two\r\nlines\"\r\n" // doubled quotes, CRLF inside quotes
        + "\n" // a blank line is no record
        + "c,3,\r\n" // an empty last field
        + "d,4,x,extra\n"
        + "\"e\"x,5,y\n" // a character after a closing quote: malformed, and reading goes on
        + "f,6,z\n"
        + "g,\"7\n");
    List<String> shown = rs.stream().map(ImportParsingTest::show).toList();
    assertEquals(List.of("1:id|emb_0|note", "2:a\nb|1|x", "4:say \"hi\"|2|two\r\nlines", "7:c|3|", "8:d|4|x|extra",
        "9:ERROR a character follows a closing quote (RFC 4180 allows only a comma or a line break there)",
        "10:f|6|z", "11:ERROR a quoted field is not closed before the end of the file"), shown);
  }

  @Test
  void csvStrayQuotesAndLoneCarriageReturns() throws IOException {
    // A quote inside an unquoted field is taken as it is (Commons CSV); the lines after it still count.
    List<String> shown = csv("id,v\r5\" disk,1\rx,2\ry,\"3\"\"\"\r").stream().map(ImportParsingTest::show).toList();
    assertEquals(List.of("1:id|v", "2:5\" disk|1", "3:x|2", "4:y|3\""), shown);
    // A byte order mark is not part of the first column's name.
    assertEquals("1:id|v", show(csv("\uFEFFid,v\n").get(0)));
  }

  @Test
  void anUnclosedQuoteIsGivenUpAfterALimitAndReadingGoesOn() throws IOException {
    StringBuilder text = new StringBuilder("id,v\na,\"1\n");
    for (int i = 0; i < 50; i++) {
      text.append("b").append(i).append(",2\n");
    }
    List<CsvRecords.Record> out = new ArrayList<>();
    try (CsvRecords rs = new CsvRecords(new StringReader(text.toString()), 64)) {
      rs.forEachRemaining(out::add);
    }
    assertEquals("1:id|v", show(out.get(0)));
    assertEquals(2, out.get(1).line());
    assertTrue(out.get(1).error().startsWith("a quoted field from this line runs on"), out.get(1).error());
    assertTrue(out.size() > 30 && out.get(out.size() - 1).error() == null, "reading goes on: " + out.size());
    assertEquals("52:b49|2", show(out.get(out.size() - 1)));
  }

  @Test
  void csvRowsCarryLineFileAndWhyTheyAreMalformed() {
    CsvRecords.Record extra = new CsvRecords.Record(8, new String[] {"d", "4", "x", "extra"}, null);
    org.apache.spark.sql.Row r = TextInputs.CsvRows.row(extra, 3, "file:/data/in.csv");
    assertEquals("d", r.get(0));
    assertEquals("file:/data/in.csv", r.get(3));
    assertEquals(8L, r.get(4));
    assertEquals("extra_fields: line 8 of /data/in.csv has 4 fields, the header has 3", r.get(5));
    org.apache.spark.sql.Row missing = TextInputs.CsvRows.row(new CsvRecords.Record(3, new String[] {"e", ""}, null), 3, "f");
    assertNull(missing.get(1), "an empty field is null");
    assertEquals("missing_fields: line 3 of f has 2 fields, the header has 3", missing.get(5));
    org.apache.spark.sql.Row broken = TextInputs.CsvRows.row(new CsvRecords.Record(9, null, "why"), 3, "f");
    assertEquals("unparseable: line 9 of f is not valid CSV: why", broken.get(5));
  }
}
