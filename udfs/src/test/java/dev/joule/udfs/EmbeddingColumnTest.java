package dev.joule.udfs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.util.GenericArrayData;
import org.apache.spark.sql.types.DataTypes;
import org.junit.jupiter.api.Test;

class EmbeddingColumnTest {

  static InternalRow row(Object id, Object emb) {
    return new GenericInternalRow(new Object[] {id, emb});
  }

  @Test
  void readsBothLayoutsIdentically() {
    float[] v = {1.5f, -2f, 0f};
    float[] a = new float[3];
    float[] b = new float[3];
    assertNull(new EmbeddingColumn(EmbeddingColumn.Layout.ARRAY_FLOAT, 3)
        .read(row(1L, new GenericArrayData(new Object[] {1.5f, -2f, 0f})), 1, a, 0));
    assertNull(new EmbeddingColumn(EmbeddingColumn.Layout.BINARY_F32LE, 3)
        .read(row(1L, EmbeddingColumn.packF32le(v)), 1, b, 0));
    assertArrayEquals(v, a);
    assertArrayEquals(v, b);
  }

  @Test
  void everyBadEmbeddingHasAReasonNamingWhatIsWrong() {
    EmbeddingColumn arr = new EmbeddingColumn(EmbeddingColumn.Layout.ARRAY_FLOAT, 3);
    EmbeddingColumn bin = new EmbeddingColumn(EmbeddingColumn.Layout.BINARY_F32LE, 3);
    float[] dst = new float[3];
    assertEquals("null_embedding: embedding is null", arr.read(row(1L, null), 1, dst, 0));
    assertTrue(arr.read(row(1L, new GenericArrayData(new Object[] {1f, 2f})), 1, dst, 0)
        .startsWith("wrong_dim: embedding has 2 values, the model expects 3"));
    assertTrue(arr.read(row(1L, new GenericArrayData(new Object[] {1f, null, 2f})), 1, dst, 0)
        .startsWith("null_element: embedding element 1"));
    assertTrue(arr.read(row(1L, new GenericArrayData(new Object[] {1f, Float.NaN, 2f})), 1, dst, 0)
        .startsWith("non_finite: embedding element 1 is NaN"));
    assertTrue(bin.read(row(1L, new byte[7]), 1, dst, 0).startsWith("bad_binary_length"));
    assertTrue(bin.read(row(1L, EmbeddingColumn.packF32le(new float[] {1, Float.POSITIVE_INFINITY, 0})), 1, dst, 0)
        .startsWith("non_finite: embedding element 1 is Infinity"));
  }

  @Test
  void unsupportedTypeIsRejectedWithTheColumnName() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> EmbeddingColumn.layoutOf("vec", DataTypes.StringType));
    assertTrue(e.getMessage().contains("'vec'") && e.getMessage().contains("string"), e.getMessage());
    assertEquals(EmbeddingColumn.Layout.ARRAY_DOUBLE,
        EmbeddingColumn.layoutOf("v", DataTypes.createArrayType(DataTypes.DoubleType)));
  }
}
