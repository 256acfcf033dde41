package dev.joule.udfs.input;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.joule.udfs.EmbeddingColumn;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.function.Predicate;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.execution.vectorized.OnHeapColumnVector;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.vectorized.ColumnVector;
import org.apache.spark.sql.vectorized.ColumnarBatch;
import org.junit.jupiter.api.Test;

/** A filter of the scan's rows: the scorer sees exactly the rows it keeps, each once, with their own values. */
class ColumnarInputTest {

  static final int DIM = 4;

  /** A scan batch of (note, id, embedding) for these ids: the scorer reads (id, embedding), columns 1 and 2. */
  static ColumnarBatch batch(long[] ids) {
    OnHeapColumnVector note = new OnHeapColumnVector(ids.length, DataTypes.IntegerType);
    OnHeapColumnVector id = new OnHeapColumnVector(ids.length, DataTypes.LongType);
    OnHeapColumnVector emb = new OnHeapColumnVector(ids.length,
        DataTypes.createArrayType(DataTypes.FloatType, false));
    emb.arrayData().reserve(ids.length * DIM);
    for (int r = 0; r < ids.length; r++) {
      note.putInt(r, r);
      id.putLong(r, ids[r]);
      emb.putArray(r, r * DIM, DIM);
      for (int c = 0; c < DIM; c++) {
        emb.arrayData().putFloat(r * DIM + c, values(ids[r])[c]);
      }
    }
    return new ColumnarBatch(new ColumnVector[] {note, id, emb}, ids.length);
  }

  static float[] values(long id) {
    return new float[] {id, id + 0.5f, -id, 1f / (id + 1)};
  }

  @Test
  void theScorerReadsTheRowsTheFilterKeepsInEveryBatch() {
    Random random = new Random(7);
    for (int trial = 0; trial < 50; trial++) {
      List<ColumnarBatch> batches = new ArrayList<>();
      List<Long> expected = new ArrayList<>();
      long next = 0;
      long modulus = 1 + random.nextInt(4);
      for (int b = 0; b < 1 + random.nextInt(4); b++) {
        long[] ids = new long[random.nextInt(9)]; // empty batches and batches the filter empties too
        for (int r = 0; r < ids.length; r++) {
          ids[r] = next++;
          if (ids[r] % modulus == 0) {
            expected.add(ids[r]);
          }
        }
        batches.add(batch(ids));
      }
      Predicate<InternalRow> keeps = row -> row.getLong(1) % modulus == 0; // over the scan's columns
      Iterator<ColumnarBatch> it = batches.iterator();
      ColumnarInput in = new ColumnarInput(it, new int[] {1, 2}, keeps);
      EmbeddingColumn column = new EmbeddingColumn(EmbeddingColumn.Layout.ARRAY_FLOAT, DIM);
      List<Long> read = new ArrayList<>();
      while (in.next()) {
        long id = in.row().getLong(0);
        read.add(id);
        float[] dst = new float[DIM];
        assertNull(in.readEmbedding(column, dst, 0));
        assertArrayEquals(values(id), dst, "row " + id);
      }
      assertEquals(expected, read, "trial " + trial + ", ids divisible by " + modulus);
    }
  }

  /**
   * A codes batch whose {@code precision} is dictionary-encoded with two entries mixed in one
   * batch: each row's answer is its own entry's, and each row's codes are its own bytes, read from
   * the vector's array in place.
   */
  @Test
  void codesAndTheirPrecisionAreEachRowsOwn() {
    Random random = new Random(11);
    for (int trial = 0; trial < 30; trial++) {
      int rows = 1 + random.nextInt(40);
      int width = 1 + random.nextInt(9);
      OnHeapColumnVector id = new OnHeapColumnVector(rows, DataTypes.LongType);
      OnHeapColumnVector codes = new OnHeapColumnVector(rows, DataTypes.BinaryType);
      OnHeapColumnVector scale = new OnHeapColumnVector(rows, DataTypes.FloatType);
      OnHeapColumnVector norm = new OnHeapColumnVector(rows, DataTypes.FloatType);
      OnHeapColumnVector precision = new OnHeapColumnVector(rows, DataTypes.StringType);
      byte[][] entries = {"int8".getBytes(java.nio.charset.StandardCharsets.UTF_8),
          "int4".getBytes(java.nio.charset.StandardCharsets.UTF_8)};
      precision.setDictionary(new org.apache.spark.sql.execution.vectorized.Dictionary() {
        @Override public int decodeToInt(int i) { throw new UnsupportedOperationException(); }
        @Override public long decodeToLong(int i) { throw new UnsupportedOperationException(); }
        @Override public float decodeToFloat(int i) { throw new UnsupportedOperationException(); }
        @Override public double decodeToDouble(int i) { throw new UnsupportedOperationException(); }
        @Override public byte[] decodeToBinary(int i) { return entries[i].clone(); }
      });
      var dictIds = precision.reserveDictionaryIds(rows);
      byte[][] expected = new byte[rows][];
      int[] entry = new int[rows];
      for (int r = 0; r < rows; r++) {
        id.putLong(r, r);
        expected[r] = new byte[width];
        random.nextBytes(expected[r]);
        codes.putByteArray(r, expected[r]);
        scale.putFloat(r, 1f);
        norm.putFloat(r, 1f);
        entry[r] = random.nextInt(4) == 0 ? 1 : 0; // runs of one entry, broken by the other
        dictIds.putInt(r, entry[r]);
      }
      ColumnarBatch b = new ColumnarBatch(new ColumnVector[] {id, codes, scale, norm, precision}, rows);
      ColumnarInput in = new ColumnarInput(List.of(b).iterator(), new int[] {0, 1, 2, 3, 4}, null);
      var int8 = org.apache.spark.unsafe.types.UTF8String.fromString("int8");
      var int4 = org.apache.spark.unsafe.types.UTF8String.fromString("int4");
      for (int r = 0; r < rows; r++) {
        assertEquals(true, in.next());
        assertEquals(width, in.codesLength());
        byte[] dst = new byte[width + 2];
        in.copyCodes(dst, 1);
        assertArrayEquals(expected[r], java.util.Arrays.copyOfRange(dst, 1, width + 1), "row " + r);
        assertEquals(entry[r] == 0, in.textEquals(4, int8), "row " + r + " against int8");
        assertEquals(entry[r] == 1, in.textEquals(4, int4), "row " + r + " against int4");
        assertEquals(entry[r] == 0, in.textEquals(4, int8), "row " + r + " against int8 again");
      }
      assertEquals(false, in.next());
    }
  }

  /** This Spark's on-heap vectors are read in place: a Spark whose fields moved would fall back to copies. */
  @Test
  void onHeapVectorsAreReadInPlace() {
    OnHeapColumnVector floats = new OnHeapColumnVector(4, DataTypes.FloatType);
    floats.putFloat(2, 5f);
    float[] f = OnHeapArrays.floats(floats);
    org.junit.jupiter.api.Assertions.assertNotNull(f, "OnHeapColumnVector.floatData");
    assertEquals(5f, f[2]);
    OnHeapColumnVector bytes = new OnHeapColumnVector(4, DataTypes.ByteType);
    bytes.putByte(3, (byte) 7);
    byte[] b = OnHeapArrays.bytes(bytes);
    org.junit.jupiter.api.Assertions.assertNotNull(b, "OnHeapColumnVector.byteData");
    assertEquals(7, b[3]);
    assertNull(OnHeapArrays.floats(new org.apache.spark.sql.execution.vectorized.OffHeapColumnVector(4,
        DataTypes.FloatType)));
  }
}
