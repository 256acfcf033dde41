package dev.joule.udfs.input;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import org.apache.spark.sql.execution.vectorized.OnHeapColumnVector;
import org.apache.spark.sql.execution.vectorized.WritableColumnVector;

/**
 * The arrays behind Spark's on-heap column vectors, read in place. Spark's only bulk reads
 * ({@code getFloats}, {@code getBytes}) return a new array: a batch of 8,192 rows of 384 floats is
 * a 12 MB copy per batch, which the collector treats as a humongous object. Where this Spark's
 * {@link OnHeapColumnVector} has no such field (another version, or off-heap vectors), callers get
 * null and copy as before.
 */
final class OnHeapArrays {

  private static final VarHandle FLOATS = field("floatData", float[].class);
  private static final VarHandle BYTES = field("byteData", byte[].class);

  private OnHeapArrays() {}

  private static VarHandle field(String name, Class<?> type) {
    try {
      return MethodHandles.privateLookupIn(OnHeapColumnVector.class, MethodHandles.lookup())
          .findVarHandle(OnHeapColumnVector.class, name, type);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }

  /** The vector's float elements, indexed as its element offsets; null where they cannot be read in place. */
  static float[] floats(WritableColumnVector v) {
    return v instanceof OnHeapColumnVector && FLOATS != null ? (float[]) FLOATS.get(v) : null;
  }

  /** The vector's byte elements, indexed as its element offsets; null where they cannot be read in place. */
  static byte[] bytes(WritableColumnVector v) {
    return v instanceof OnHeapColumnVector && BYTES != null ? (byte[]) BYTES.get(v) : null;
  }
}
