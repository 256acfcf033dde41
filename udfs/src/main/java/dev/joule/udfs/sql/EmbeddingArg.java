package dev.joule.udfs.sql;

import dev.joule.udfs.EmbeddingColumn;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.apache.spark.sql.catalyst.util.ArrayData;

/**
 * Reads one embedding argument of a SQL function into floats, whatever its layout. Errors name
 * the function, the argument and what is wrong with the value.
 */
public record EmbeddingArg(String function, String name, EmbeddingColumn.Layout layout) implements Serializable {

  /** The values; NaN and infinities are kept (the caller decides whether it can use them). */
  public float[] read(Object value) {
    switch (layout) {
      case BINARY_F32LE: {
        byte[] b = (byte[]) value;
        if (b.length % 4 != 0) {
          throw error("binary value of " + b.length + " bytes is not a whole number of float32 values");
        }
        float[] v = new float[b.length / 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
        return v;
      }
      case ARRAY_FLOAT:
      case ARRAY_DOUBLE: {
        ArrayData a = (ArrayData) value;
        float[] v = new float[a.numElements()];
        boolean isFloat = layout == EmbeddingColumn.Layout.ARRAY_FLOAT;
        for (int i = 0; i < v.length; i++) {
          if (a.isNullAt(i)) {
            throw error("element " + i + " is null");
          }
          v[i] = isFloat ? a.getFloat(i) : (float) a.getDouble(i);
        }
        return v;
      }
      default:
        throw new AssertionError(layout);
    }
  }

  /** The values, which must all be finite and at least one. */
  public float[] readFinite(Object value) {
    float[] v = read(value);
    if (v.length == 0) {
      throw error("is empty");
    }
    for (int i = 0; i < v.length; i++) {
      if (!Float.isFinite(v[i])) {
        throw error("element " + i + " is " + v[i]);
      }
    }
    return v;
  }

  /** Checks two embeddings have the same length. */
  public static void sameLength(String function, EmbeddingArg a, float[] va, EmbeddingArg b, float[] vb) {
    if (va.length != vb.length) {
      throw new SqlFunctionException(function, "argument " + b.name + " has " + vb.length
          + " values, argument " + a.name + " has " + va.length);
    }
  }

  SqlFunctionException error(String message) {
    return new SqlFunctionException(function, "argument " + name + " " + message);
  }
}
