package dev.joule.udfs.sql;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.kernel.BinaryQuantizer;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Int4Quantizer;
import dev.joule.bridge.kernel.Precision;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.analysis.TypeCheckResult;
import org.apache.spark.sql.catalyst.expressions.BoundReference;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.Literal;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.junit.jupiter.api.Test;
import scala.jdk.javaapi.CollectionConverters;

/** The SQL functions as Catalyst expressions, without a Spark session: binding, per-row values, errors. */
class JouleCallTest {

  static final DataType FLOATS = DataTypes.createArrayType(DataTypes.FloatType, false);
  static final int[] DIMS = {1, 7, 15, 16, 17, 63, 64, 65, 383, 384, 768};

  static JouleCall call(SqlFunction f, Expression... args) {
    return new JouleCall(f, CollectionConverters.asScala(List.of(args)).toSeq());
  }

  static BoundReference column(int ordinal, DataType type) {
    return new BoundReference(ordinal, type, true);
  }

  static InternalRow row(Object... values) {
    return new GenericInternalRow(values);
  }

  static float[] random(Random rnd, int dim) {
    float[] v = new float[dim];
    for (int i = 0; i < dim; i++) {
      v[i] = (float) rnd.nextGaussian() * (rnd.nextInt(4) == 0 ? 10 : 1);
    }
    return v;
  }

  @Test
  void quantizeThenDequantizeStaysWithinItsErrorBoundForEveryPrecisionAndDim() {
    Random rnd = new Random(3);
    for (String p : List.of("int8", "int4", "binary")) {
      JouleCall q = call(JouleFunctions.QUANTIZE, column(0, FLOATS), Literal.create(p, DataTypes.StringType));
      assertTrue(q.checkInputDataTypes().isSuccess());
      for (int dim : DIMS) {
        for (int t = 0; t < 20; t++) {
          float[] v = random(rnd, dim);
          InternalRow codes = (InternalRow) q.eval(row(UnsafeArrayData.fromPrimitiveArray(v)));
          EncodedRows ref = EncodedRows.encode(Precision.parse(p), 1, dim, v);
          assertArrayEquals(Arrays.copyOf(ref.codes(), ref.stride()), codes.getBinary(0), p + " dim " + dim);
          assertEquals(ref.scales()[0], codes.getFloat(1));
          assertEquals(ref.norms()[0], codes.getFloat(2));
          assertEquals(p, codes.getUTF8String(3).toString());
          assertEquals(dim, codes.getInt(4));

          JouleCall d = call(JouleFunctions.DEQUANTIZE, column(0, DataTypes.BinaryType),
              column(1, DataTypes.FloatType), column(2, DataTypes.StringType), column(3, DataTypes.IntegerType));
          float[] back = ((ArrayData) d.eval(row(codes.getBinary(0), codes.getFloat(1), codes.getUTF8String(3),
              codes.getInt(4)))).toFloatArray();
          float s = codes.getFloat(1);
          double err = 0;
          for (int i = 0; i < dim; i++) {
            float expected = p.equals("binary") ? (BinaryQuantizer.bit(ref.codes(), 0, i) ? s : -s)
                : p.equals("int4") ? Int4Quantizer.code(ref.codes(), 0, dim, i) * s : ref.codes()[i] * s;
            assertEquals(expected, back[i], 0f, p + " dim " + dim + " value " + i);
            if (p.equals("int8")) {
              assertTrue(Math.abs(v[i] - back[i]) <= s / 2 * 1.0001f + 1e-7f, p + ": " + v[i] + " vs " + back[i]);
            }
            err += (v[i] - back[i]) * (double) (v[i] - back[i]);
          }
          if (p.equals("int4")) {
            // int4 clips to a fitted scale: no per-value bound, but never worse than max-abs.
            double normSq = (double) ref.norms()[0] * ref.norms()[0];
            assertTrue(err <= Int4Quantizer.maxAbsScaleError(v, 0, dim) + 1e-6 * normSq, "int4 dim " + dim + ": error " + err);
          }
        }
      }
    }
  }

  @Test
  void hammingOfCodesWithARaggedTailAndOfSignsMatchesTheDefinition() {
    Random rnd = new Random(5);
    JouleCall codes = call(JouleFunctions.HAMMING, column(0, DataTypes.BinaryType), column(1, DataTypes.BinaryType));
    JouleCall signs = call(JouleFunctions.HAMMING, column(0, FLOATS), column(1, FLOATS));
    for (int len = 0; len < 40; len++) {
      byte[] a = new byte[len];
      byte[] b = new byte[len];
      rnd.nextBytes(a);
      rnd.nextBytes(b);
      int expected = 0;
      for (int i = 0; i < len; i++) {
        expected += Integer.bitCount((a[i] ^ b[i]) & 0xFF);
      }
      assertEquals(expected, codes.eval(row(a, b)), "length " + len);
    }
    for (int dim : DIMS) {
      float[] a = random(rnd, dim);
      float[] b = random(rnd, dim);
      int expected = 0;
      for (int i = 0; i < dim; i++) {
        expected += (a[i] > 0) != (b[i] > 0) ? 1 : 0;
      }
      assertEquals(expected, signs.eval(row(UnsafeArrayData.fromPrimitiveArray(a), UnsafeArrayData.fromPrimitiveArray(b))));
    }
    SqlFunctionException e = assertThrows(SqlFunctionException.class, () -> codes.eval(row(new byte[8], new byte[16])));
    assertEquals("joule_hamming: argument b has 16 bytes, argument a has 8", e.getMessage());
  }

  @Test
  void analysisFailuresNameTheFunctionAndArgument() {
    TypeCheckResult r = call(JouleFunctions.DOT, column(0, DataTypes.StringType), column(1, FLOATS)).checkInputDataTypes();
    assertTrue(r.isFailure());
    assertEquals("joule_dot: argument a must be array<float>, array<double> or binary (packed little-endian "
        + "float32), got string", ((TypeCheckResult.TypeCheckFailure) r).message());
    JouleCall notConstant = call(JouleFunctions.QUANTIZE, column(0, FLOATS), column(1, DataTypes.StringType));
    assertTrue(notConstant.checkInputDataTypes().isFailure());
    assertEquals(DataTypes.NullType, notConstant.dataType(), "no type before the failure is reported");
    assertTrue(call(JouleFunctions.DEQUANTIZE, column(0, DataTypes.BinaryType)).checkInputDataTypes().isFailure());
  }

  @Test
  void nullInNullOutAndBadValuesFailWithTheArgument() {
    JouleCall dot = call(JouleFunctions.DOT, column(0, FLOATS), column(1, DataTypes.BinaryType));
    assertNull(dot.eval(row(null, new byte[4])));
    assertEquals(6f, dot.eval(row(UnsafeArrayData.fromPrimitiveArray(new float[] {1, 2}),
        dev.joule.udfs.EmbeddingColumn.packF32le(new float[] {2, 2}))));
    SqlFunctionException ragged = assertThrows(SqlFunctionException.class,
        () -> dot.eval(row(UnsafeArrayData.fromPrimitiveArray(new float[] {1}), new byte[5])));
    assertEquals("joule_dot: argument b binary value of 5 bytes is not a whole number of float32 values",
        ragged.getMessage());
    JouleCall deq = call(JouleFunctions.DEQUANTIZE, column(0, DataTypes.BinaryType), column(1, DataTypes.DoubleType),
        Literal.create("int4", DataTypes.StringType), column(2, DataTypes.LongType));
    SqlFunctionException size = assertThrows(SqlFunctionException.class, () -> deq.eval(row(new byte[3], 1.0, 7L)));
    assertEquals("joule_dequantize: argument codes has 3 bytes; int4 codes of dim 7 have 4", size.getMessage());
  }

  @Test
  void copiesKeepTheirBindingAndSurviveSerialization() throws Exception {
    JouleCall q = call(JouleFunctions.QUANTIZE, column(0, FLOATS), Literal.create("int8", DataTypes.StringType));
    assertFalse(q.isBound());
    assertTrue(q.checkInputDataTypes().isSuccess());
    assertTrue(q.isBound());
    assertSame(q, q.withNewChildren(q.children()), "unchanged children: the same node");
    JouleCall moved = (JouleCall) q.withNewChildren(CollectionConverters.asScala(List.<Expression>of(
        column(1, FLOATS), Literal.create("int8", DataTypes.StringType))).toSeq());
    assertTrue(moved.isBound(), "same types and constants: the binding is kept");
    JouleCall otherConstant = (JouleCall) q.withNewChildren(CollectionConverters.asScala(List.<Expression>of(
        column(0, FLOATS), Literal.create("int4", DataTypes.StringType))).toSeq());
    assertFalse(otherConstant.isBound(), "another precision must bind again");
    assertTrue(((JouleCall) q.clone()).isBound());
    assertTrue(((JouleCall) q.makeCopy(new Object[] {q.function(), q.children()})).isBound());
    assertTrue(!moved.equals(q) && moved.equals(q.withNewChildren(moved.children())));

    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(q);
    }
    JouleCall back;
    try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      back = (JouleCall) in.readObject();
    }
    assertTrue(back.isBound(), "the binding travels with the plan");
    float[] v = {1f, -2f, 3f};
    assertArrayEquals(((InternalRow) q.eval(row(UnsafeArrayData.fromPrimitiveArray(v)))).getBinary(0),
        ((InternalRow) back.eval(row(UnsafeArrayData.fromPrimitiveArray(v)))).getBinary(0));
    assertEquals("joule_quantize(input[0, array<float>, true], int8)", q.toString());
  }

  @Test
  void scoreNeverBindsWhereItIsEvaluated() {
    JouleCall s = call(JouleFunctions.SCORE, Literal.create("/nowhere/model.json", DataTypes.StringType),
        column(0, FLOATS));
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> s.eval(row(UnsafeArrayData.fromPrimitiveArray(new float[] {1f}))));
    assertEquals("joule_score was not bound when the query was analysed", e.getMessage());
  }
}
