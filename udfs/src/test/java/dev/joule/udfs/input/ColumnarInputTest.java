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
}
