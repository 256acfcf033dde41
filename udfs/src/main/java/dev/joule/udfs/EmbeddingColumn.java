package dev.joule.udfs;

import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.unsafe.Platform;

/**
 * Reads and validates one embedding from a row, in either layout Joule accepts: {@code
 * array<float>} (or {@code array<double>}) or packed little-endian float32 {@code binary}. A bad
 * embedding yields a reject reason ({@code code: detail}), never an exception or a silent NULL.
 */
public final class EmbeddingColumn implements Serializable {

  /** The physical layouts an embedding column can have. */
  public enum Layout {
    ARRAY_FLOAT,
    ARRAY_DOUBLE,
    BINARY_F32LE
  }

  private final Layout layout;
  private final int dim;

  public EmbeddingColumn(Layout layout, int dim) {
    this.layout = layout;
    this.dim = dim;
  }

  /**
   * The layout for a Spark type, or an error message naming the column and the type found.
   */
  public static Layout layoutOf(String column, DataType type) {
    if (type instanceof BinaryType) {
      return Layout.BINARY_F32LE;
    }
    if (type instanceof ArrayType at) {
      if (at.elementType().equals(DataTypes.FloatType)) {
        return Layout.ARRAY_FLOAT;
      }
      if (at.elementType().equals(DataTypes.DoubleType)) {
        return Layout.ARRAY_DOUBLE;
      }
    }
    throw new IllegalArgumentException("column '" + column + "' has type " + type.simpleString()
        + "; an embedding must be array<float>, array<double> or binary (packed little-endian float32)");
  }

  public Layout layout() {
    return layout;
  }

  public int dim() {
    return dim;
  }

  /** Bytes of embedding payload in the row as stored, for the energy record. */
  public long storedBytes(InternalRow row, int ordinal) {
    if (row.isNullAt(ordinal)) {
      return 0;
    }
    switch (layout) {
      case BINARY_F32LE:
        return row.getBinary(ordinal).length;
      case ARRAY_FLOAT:
        return 4L * row.getArray(ordinal).numElements();
      default:
        return 8L * row.getArray(ordinal).numElements();
    }
  }

  /**
   * Copies the embedding at {@code ordinal} into {@code dst[off, off+dim)}.
   *
   * @return null if valid, else the reject reason
   */
  public String read(InternalRow row, int ordinal, float[] dst, int off) {
    if (row.isNullAt(ordinal)) {
      return "null_embedding: embedding is null";
    }
    switch (layout) {
      case BINARY_F32LE: {
        byte[] b = row.getBinary(ordinal);
        if (b.length % 4 != 0) {
          return "bad_binary_length: binary embedding of " + b.length
              + " bytes is not a whole number of float32 values";
        }
        if (b.length / 4 != dim) {
          return wrongDim(b.length / 4);
        }
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(dst, off, dim);
        break;
      }
      case ARRAY_FLOAT:
      case ARRAY_DOUBLE: {
        ArrayData a = row.getArray(ordinal);
        int n = a.numElements();
        if (n != dim) {
          return wrongDim(n);
        }
        boolean isFloat = layout == Layout.ARRAY_FLOAT;
        if (isFloat && a instanceof UnsafeArrayData u && !hasNullElement(u)) {
          // One bulk copy out of Spark's row instead of a call per element.
          Platform.copyMemory(u.getBaseObject(), u.getBaseOffset() + UnsafeArrayData.calculateHeaderPortionInBytes(n),
              dst, Platform.FLOAT_ARRAY_OFFSET + 4L * off, 4L * n);
          break;
        }
        for (int i = 0; i < n; i++) {
          if (a.isNullAt(i)) {
            return "null_element: embedding element " + i + " is null";
          }
          dst[off + i] = isFloat ? a.getFloat(i) : (float) a.getDouble(i);
        }
        break;
      }
      default:
        throw new AssertionError(layout);
    }
    return nonFinite(dst, off, dim);
  }

  /** The reject reason for the first non-finite value of {@code v[off, off+dim)}, or null. */
  public static String nonFinite(float[] v, int off, int dim) {
    for (int i = 0; i < dim; i++) {
      if (!Float.isFinite(v[off + i])) {
        return "non_finite: embedding element " + i + " is " + v[off + i];
      }
    }
    return null;
  }

  /** The reject reason for an embedding of {@code n} values where the model expects {@link #dim}. */
  public String wrongDim(int n) {
    return "wrong_dim: embedding has " + n + " values, the model expects " + dim;
  }

  /** Whether any element of {@code a} is null: its header's null bits, a word at a time. */
  private static boolean hasNullElement(UnsafeArrayData a) {
    int words = (a.numElements() + 63) / 64;
    for (int w = 0; w < words; w++) {
      if (Platform.getLong(a.getBaseObject(), a.getBaseOffset() + 8 + 8L * w) != 0) {
        return true;
      }
    }
    return false;
  }


  /** Packs floats as little-endian float32 bytes, the binary layout. */
  public static byte[] packF32le(float[] v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    return b.array();
  }
}
