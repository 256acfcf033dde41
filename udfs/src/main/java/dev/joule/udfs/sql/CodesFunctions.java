package dev.joule.udfs.sql;

import dev.joule.bridge.kernel.BinaryQuantizer;
import dev.joule.bridge.kernel.DimensionScales;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Int4Quantizer;
import dev.joule.bridge.kernel.Int8Quantizer;
import dev.joule.bridge.kernel.Precision;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Decimal;
import org.apache.spark.sql.types.IntegralType;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

/** joule_quantize and joule_dequantize: the codes a codes table holds, one value at a time. */
final class CodesFunctions {

  /** The columns of a codes table that describe one row's codes. */
  static final StructType CODES = new StructType()
      .add("codes", DataTypes.BinaryType, false)
      .add("scale", DataTypes.FloatType, false)
      .add("norm", DataTypes.FloatType, false)
      .add("precision", DataTypes.StringType, false)
      .add("dim", DataTypes.IntegerType, false);

  private CodesFunctions() {}

  static SqlFunction.Bound quantize(SqlArgs args) {
    args.requireCount(2, 3, "joule_quantize(embedding, precision[, dimension_scales])");
    EmbeddingArg e = args.embedding(0, "embedding");
    Precision p = precision(args, args.constantString(1, "precision"));
    if (!p.quantized()) {
      throw args.error("argument precision must be int8, int4 or binary; fp32 is the embedding itself");
    }
    return new Quantize(e, p, args.count() == 3 ? scales(args, 2, p) : null);
  }

  /**
   * The optional dimension scales argument: a constant string, a codes table's
   * {@code joule.codes.dimension-scales} property (base64 float32), parsed when the dim is known.
   */
  static DimensionScales scales(SqlArgs args, int i, Precision p) {
    String s = args.constantString(i, "dimension_scales");
    if (p == Precision.BINARY) {
      throw args.error("argument dimension_scales applies to int8 and int4 codes (binary codes are sign bits)");
    }
    try {
      return DimensionScales.parse(s);
    } catch (IllegalArgumentException e) {
      throw args.error("argument dimension_scales: " + e.getMessage());
    }
  }

  /** The scales for a row of {@code dim}, or null when none were given. */
  static DimensionScales forDim(String fn, DimensionScales scales, int dim) {
    if (scales != null && scales.dim() != dim) {
      throw new SqlFunctionException(fn, "argument dimension_scales has " + scales.dim() + " values, the row " + dim);
    }
    return scales;
  }

  static Precision precision(SqlArgs args, String s) {
    try {
      return Precision.parse(s);
    } catch (IllegalArgumentException ex) {
      throw args.error("argument precision: " + ex.getMessage());
    }
  }

  /**
   * The same encoding as {@code joule quantize} writes (one row of {@link EncodedRows#encode}),
   * given the codes table's dimension scales (int8 and int4 tables have them).
   */
  record Quantize(EmbeddingArg embedding, Precision precision, DimensionScales scales) implements SqlFunction.Bound {
    @Override
    public DataType dataType() {
      return CODES;
    }

    @Override
    public Object eval(Object[] values) {
      float[] v = embedding.readFinite(values[0]);
      EncodedRows e = EncodedRows.encode(precision, 1, v.length, v, forDim("joule_quantize", scales, v.length));
      return new GenericInternalRow(new Object[] {Arrays.copyOf(e.codes(), e.stride()), e.scales()[0],
          e.norms()[0], UTF8String.fromString(precision.label()), v.length});
    }
  }

  static SqlFunction.Bound dequantize(SqlArgs args) {
    args.requireCount(4, 5, "joule_dequantize(codes, scale, precision, dim[, dimension_scales])");
    args.requireBinary(0, "codes");
    if (!(args.type(1) instanceof NumericType)) {
      throw args.error("argument scale must be a number, got " + args.type(1).simpleString());
    }
    if (!(args.type(2) instanceof StringType)) {
      throw args.error("argument precision must be a string, got " + args.type(2).simpleString());
    }
    if (!(args.type(3) instanceof IntegralType)) {
      throw args.error("argument dim must be an integer, got " + args.type(3).simpleString());
    }
    return new Dequantize(args.count() == 5 ? scales(args, 4, Precision.INT8) : null);
  }

  /**
   * Codes back to floats; precision and dim may vary per row (they are columns of a codes table).
   * With the table's dimension scales, int8 and int4 values are multiplied back by them.
   */
  record Dequantize(DimensionScales scales) implements SqlFunction.Bound {
    private static final String FN = "joule_dequantize";

    @Override
    public DataType dataType() {
      return DataTypes.createArrayType(DataTypes.FloatType, false);
    }

    @Override
    public Object eval(Object[] values) {
      byte[] codes = (byte[]) values[0];
      float scale = (float) number(values[1]);
      String ps = values[2].toString();
      Precision p;
      try {
        p = Precision.parse(ps);
      } catch (IllegalArgumentException e) {
        throw new SqlFunctionException(FN, "argument precision: " + e.getMessage());
      }
      long dimL = (long) number(values[3]);
      if (dimL < 1 || dimL > Integer.MAX_VALUE / 4) {
        throw new SqlFunctionException(FN, "argument dim must be a positive size, got " + dimL);
      }
      int dim = (int) dimL;
      if (codes.length != p.rowBytes(dim)) {
        throw new SqlFunctionException(FN, "argument codes has " + codes.length + " bytes; " + p
            + " codes of dim " + dim + " have " + p.rowBytes(dim));
      }
      float[] out = new float[dim];
      switch (p) {
        case FP32:
          ByteBuffer.wrap(codes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
          break;
        case INT8:
          Int8Quantizer.dequantize(codes, 0, dim, scale, out, 0);
          break;
        case INT4:
          for (int i = 0; i < dim; i++) {
            out[i] = Int4Quantizer.code(codes, 0, dim, i) * scale;
          }
          break;
        case BINARY:
          for (int i = 0; i < dim; i++) {
            out[i] = BinaryQuantizer.bit(codes, 0, i) ? scale : -scale;
          }
          break;
        default:
          throw new AssertionError(p);
      }
      DimensionScales e = p == Precision.INT8 || p == Precision.INT4 ? forDim(FN, scales, dim) : null;
      if (e != null) {
        float[] f = e.values();
        for (int i = 0; i < dim; i++) {
          out[i] *= f[i];
        }
      }
      return UnsafeArrayData.fromPrimitiveArray(out);
    }

    private static double number(Object v) {
      return v instanceof Decimal d ? d.toDouble() : ((Number) v).doubleValue();
    }
  }
}
