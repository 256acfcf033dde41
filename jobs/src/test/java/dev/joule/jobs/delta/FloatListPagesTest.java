package dev.joule.jobs.delta;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.delta.DriverParquetRows.FloatLists;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.column.ParquetProperties.WriterVersion;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Float lists decoded a page at a time ({@link FloatListPages}) are, bit for bit, what
 * parquet-mr's per-value reader gives, and what was written: null lists, empty lists, null
 * elements, rows across pages, dictionary and PLAIN pages, V1 and V2 pages, several codecs; and
 * a filter's batches of them ({@link DriverParquetRows#batches}) hold those values for the rows kept.
 */
class FloatListPagesTest {

  private static final StructType SCHEMA = new StructType().add("id", DataTypes.LongType)
      .add("embedding", DataTypes.createArrayType(DataTypes.FloatType));

  /** The columns read in batches: a string the filter reads, and a column no file has. */
  private static final StructType WITH_KIND = SCHEMA.add("kind", DataTypes.StringType)
      .add("absent", DataTypes.StringType);
  private static final String[] KINDS = {"insert", "update_postimage", "update_preimage", "delete"};

  @TempDir
  Path dir;

  @Test
  void pagesGiveWhatPerValueReadsGiveAndWhatWasWritten() throws Exception {
    SplittableRandom random = new SplittableRandom(11);
    Configuration conf = new Configuration();
    CompressionCodecName[] codecs = {CompressionCodecName.UNCOMPRESSED, CompressionCodecName.SNAPPY,
        CompressionCodecName.GZIP, CompressionCodecName.ZSTD};
    org.apache.spark.sql.execution.vectorized.OnHeapColumnVector[] vectors = null;
    for (int round = 0; round < 48; round++) {
      boolean optionalList = round % 4 != 3;
      boolean optionalElement = round % 8 < 6;
      MessageType schema = MessageTypeParser.parseMessageType("message spark_schema { optional int64 id; "
          + (optionalList ? "optional" : "required") + " group embedding (LIST) { repeated group list { "
          + (optionalElement ? "optional" : "required") + " float element; } } optional binary kind (STRING); }");
      boolean fewValues = round % 3 == 0; // a dictionary that holds every value
      int rows = 1 + random.nextInt(round < 8 ? 5 : 1_200);
      List<float[]> lists = new ArrayList<>();
      List<boolean[]> nullElements = new ArrayList<>();
      Path file = dir.resolve("f" + round + ".parquet");
      var builder = ExampleParquetWriter.builder(new LocalOutputFile(file)).withType(schema)
          .withWriterVersion(round % 2 == 0 ? WriterVersion.PARQUET_1_0 : WriterVersion.PARQUET_2_0)
          .withDictionaryEncoding(round % 5 != 4).withCompressionCodec(codecs[round % codecs.length])
          .withPageSize(round % 6 < 3 ? 512 : 64 * 1024).withDictionaryPageSize(round % 7 == 0 ? 256 : 64 * 1024)
          .withRowGroupSize(round % 9 == 0 ? 16 * 1024L : 8L << 20);
      try (ParquetWriter<Group> writer = builder.build()) {
        SimpleGroupFactory groups = new SimpleGroupFactory(schema);
        for (int r = 0; r < rows; r++) {
          Group g = groups.newGroup().append("id", (long) r).append("kind", KINDS[r % KINDS.length]);
          int kind = random.nextInt(20);
          float[] v = null;
          boolean[] nulls = null;
          if (kind == 0 && optionalList) {
            // a null list: no embedding group
          } else {
            int dim = kind == 1 ? 0 : random.nextInt(1, round % 2 == 0 ? 40 : 400);
            v = new float[dim];
            nulls = new boolean[dim];
            Group e = g.addGroup("embedding");
            for (int i = 0; i < dim; i++) {
              Group l = e.addGroup("list");
              if (optionalElement && kind == 2 && random.nextInt(5) == 0) {
                nulls[i] = true;
              } else {
                v[i] = fewValues ? random.nextInt(16) - 8.5f : (float) random.nextGaussian();
                l.append("element", v[i]);
              }
            }
          }
          lists.add(v);
          nullElements.add(nulls);
          writer.write(g);
        }
      }
      org.apache.hadoop.fs.Path path = new org.apache.hadoop.fs.Path(file.toUri());
      List<Object[]> pages = DriverParquetRows.read(conf, path, SCHEMA, FloatLists.PAGES);
      List<Object[]> perValue = DriverParquetRows.read(conf, path, SCHEMA, FloatLists.PER_VALUE);
      assertEquals(rows, pages.size());
      assertEquals(rows, perValue.size());
      for (int r = 0; r < rows; r++) {
        String at = "round " + round + ", row " + r;
        assertEquals((long) r, pages.get(r)[0], at);
        assertEquals(describe(perValue.get(r)[1]), describe(pages.get(r)[1]), at);
        float[] v = lists.get(r);
        Object got = pages.get(r)[1];
        if (v == null) {
          assertNull(got, at);
          continue;
        }
        Object inner = ((scala.collection.immutable.ArraySeq<?>) got).unsafeArray();
        boolean anyNull = false;
        for (boolean b : nullElements.get(r)) {
          anyNull |= b;
        }
        if (anyNull) {
          Object[] boxed = assertInstanceOf(Object[].class, inner, at);
          assertEquals(v.length, boxed.length, at);
          for (int i = 0; i < v.length; i++) {
            if (nullElements.get(r)[i]) {
              assertNull(boxed[i], at);
            } else {
              assertEquals(Float.floatToRawIntBits(v[i]), Float.floatToRawIntBits((Float) boxed[i]), at);
            }
          }
        } else {
          float[] a = assertInstanceOf(float[].class, inner, at);
          assertEquals(v.length, a.length, at);
          for (int i = 0; i < v.length; i++) {
            assertEquals(Float.floatToRawIntBits(v[i]), Float.floatToRawIntBits(a[i]), at);
          }
        }
      }
      // Batches of the kept rows (DriverParquetRows.batches): what the per-value reader gives,
      // for the rows kept and no other; in some rounds none, in some all.
      int mod = round % 5 == 0 ? 1 : 3;
      int keepRest = round % 10 == 5 ? -1 : 0;
      // Batches cut inside row groups and pages (7 rows), or holding whole row groups.
      int batchRows = round % 3 == 1 ? 7 : 100_000;
      if (vectors == null || round % 3 == 0) { // else the last round's, as a night passes them from file to file
        vectors = DriverParquetRows.vectors(batchRows, WITH_KIND);
      }
      // With a change-type-like string the filter reads, and a column the file lacks (null).
      var batches = DriverParquetRows.batches(conf, path, WITH_KIND, flat -> {
        assertNull(flat[1], "the list is not decoded for the filter");
        assertNull(flat[3], "a column the file lacks");
        assertEquals(KINDS[(int) ((Long) flat[0] % KINDS.length)], flat[2]);
        return (Long) flat[0] % mod == keepRest;
      }, batchRows, round % 4 == 1 ? FloatLists.PER_VALUE : FloatLists.PAGES, vectors);
      List<Integer> expectedRows = new ArrayList<>();
      for (int r = 0; r < rows; r++) {
        if (r % mod == keepRest) {
          expectedRows.add(r);
        }
      }
      int k = 0;
      while (batches.hasNext()) {
        var batch = batches.next();
        assertTrue(batch.numRows() > 0 && batch.numRows() <= Math.max(batchRows, 1_200),
            "round " + round + ": a batch of " + batch.numRows());
        var listColumn = batch.column(1);
        for (int i = 0; i < batch.numRows(); i++, k++) {
          int r = expectedRows.get(k);
          String at = "round " + round + ", kept row " + r;
          assertEquals(r, batch.column(0).getLong(i), at);
          assertEquals(KINDS[r % KINDS.length], batch.column(2).getUTF8String(i).toString(), at);
          assertTrue(batch.column(3).isNullAt(i), at);
          assertEquals(describe(perValue.get(r)[1]), describe(vectorValue(listColumn, i)), at);
        }
      }
      assertEquals(expectedRows.size(), k, "round " + round + ": kept rows");
      // The pages' path decoded this file: it falls back to per-value reads only for encodings
      // it does not decode, and these are all ones it does.
      try (var reader = org.apache.parquet.hadoop.ParquetFileReader.open(
          org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(path, conf))) {
        for (var block : reader.getFooter().getBlocks()) {
          for (var chunk : block.getColumns()) {
            boolean list = chunk.getPath().toDotString().startsWith("embedding");
            assertTrue(!list || FloatListPages.decodes(chunk.getEncodings()),
                "round " + round + ": " + chunk.getEncodings());
          }
        }
      }
    }
  }

  @Test
  void aRowGoesOnAcrossPages() throws Exception {
    // Pages cut anywhere, inside a row too (parquet-mr cuts between rows; the format does not
    // require it of V1 pages), hand-made: two-bit levels, PLAIN values.
    SplittableRandom random = new SplittableRandom(5);
    org.apache.parquet.column.ColumnDescriptor column = new org.apache.parquet.column.ColumnDescriptor(
        new String[] {"embedding", "list", "element"}, org.apache.parquet.schema.Types
            .optional(org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName.FLOAT).named("element"), 1, 3);
    for (int round = 0; round < 200; round++) {
      int rows = 1 + random.nextInt(60);
      List<Object> expected = new ArrayList<>();
      List<int[]> entries = new ArrayList<>(); // rep, def, value bits
      for (int r = 0; r < rows; r++) {
        int kind = random.nextInt(6);
        if (kind == 0) {
          expected.add("null");
          entries.add(new int[] {0, 0, 0});
          continue;
        }
        int dim = kind == 1 ? 0 : 1 + random.nextInt(30);
        if (dim == 0) {
          expected.add("float[][]");
          entries.add(new int[] {0, 1, 0});
          continue;
        }
        boolean withNulls = kind == 2;
        StringBuilder d = new StringBuilder(withNulls && dim > 0 ? "Object[][" : "float[][");
        boolean anyNull = false;
        for (int i = 0; i < dim; i++) {
          boolean isNull = withNulls && random.nextInt(3) == 0;
          anyNull |= isNull;
          int bits = Float.floatToRawIntBits((float) random.nextGaussian());
          entries.add(new int[] {i == 0 ? 0 : 1, isNull ? 2 : 3, bits});
          d.append(isNull ? "null" : bits).append(',');
        }
        String text = d.append(']').toString();
        expected.add(withNulls && !anyNull ? text.replaceFirst("^Object", "float") : text);
      }
      List<org.apache.parquet.column.page.DataPage> pages = new ArrayList<>();
      for (int from = 0; from < entries.size(); ) {
        int to = Math.min(entries.size(), from + 1 + random.nextInt(round % 2 == 0 ? 5 : 80));
        pages.add(page(entries.subList(from, to)));
        from = to;
      }
      var reader = new org.apache.parquet.column.page.PageReader() {
        int next;

        @Override
        public org.apache.parquet.column.page.DictionaryPage readDictionaryPage() {
          return null;
        }

        @Override
        public long getTotalValueCount() {
          return entries.size();
        }

        @Override
        public org.apache.parquet.column.page.DataPage readPage() {
          return next < pages.size() ? pages.get(next++) : null;
        }
      };
      Object[] got = FloatListPages.read(reader, column, rows, 1, 2);
      for (int r = 0; r < rows; r++) {
        assertEquals(expected.get(r), got[r] == null ? "null"
            : describe(scala.collection.immutable.ArraySeq.unsafeWrapArray(got[r])), "round " + round + ", row " + r);
      }
    }
  }

  /** A V1 page of these entries (rep, def, value bits): levels in the hybrid encoding, PLAIN values. */
  private static org.apache.parquet.column.page.DataPage page(List<int[]> entries) throws Exception {
    var out = new java.io.ByteArrayOutputStream();
    for (int level = 0; level < 2; level++) {
      var encoder = new org.apache.parquet.column.values.rle.RunLengthBitPackingHybridEncoder(level == 0 ? 1 : 2, 64,
          1 << 16, org.apache.parquet.bytes.HeapByteBufferAllocator.getInstance());
      for (int[] e : entries) {
        encoder.writeInt(e[level]);
      }
      byte[] b = encoder.toBytes().toByteArray();
      out.write(java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
      out.write(b);
    }
    for (int[] e : entries) {
      if (e[1] == 3) {
        out.write(java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(e[2]).array());
      }
    }
    byte[] bytes = out.toByteArray();
    return new org.apache.parquet.column.page.DataPageV1(org.apache.parquet.bytes.BytesInput.from(bytes),
        entries.size(), bytes.length, null, org.apache.parquet.column.Encoding.RLE,
        org.apache.parquet.column.Encoding.RLE, org.apache.parquet.column.Encoding.PLAIN);
  }

  /** A batch's list at {@code row} as the per-row reader gives one: null, or a wrapped float[] or boxed Object[]. */
  private static Object vectorValue(org.apache.spark.sql.vectorized.ColumnVector lists, int row) {
    if (lists.isNullAt(row)) {
      return null;
    }
    var a = lists.getArray(row);
    boolean anyNull = false;
    for (int i = 0; i < a.numElements(); i++) {
      anyNull |= a.isNullAt(i);
    }
    if (!anyNull) {
      return scala.collection.immutable.ArraySeq.unsafeWrapArray(a.toFloatArray());
    }
    Object[] boxed = new Object[a.numElements()];
    for (int i = 0; i < boxed.length; i++) {
      boxed[i] = a.isNullAt(i) ? null : (Object) a.getFloat(i);
    }
    return scala.collection.immutable.ArraySeq.unsafeWrapArray(boxed);
  }

  /** A list's value as text that tells float[] from boxed values, nulls and bits included. */
  private static String describe(Object v) {
    if (v == null) {
      return "null";
    }
    Object inner = ((scala.collection.immutable.ArraySeq<?>) v).unsafeArray();
    StringBuilder s = new StringBuilder(inner.getClass().getSimpleName()).append('[');
    if (inner instanceof float[] a) {
      for (float f : a) {
        s.append(Float.floatToRawIntBits(f)).append(',');
      }
    } else {
      for (Object o : (Object[]) inner) {
        s.append(o == null ? "null" : Float.floatToRawIntBits((Float) o)).append(',');
      }
    }
    return s.append(']').toString();
  }
}
