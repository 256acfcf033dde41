package dev.joule.udfs.input;

import dev.joule.udfs.EmbeddingColumn;
import org.apache.spark.sql.catalyst.InternalRow;

/**
 * A partition's rows as the scorer reads them, one at a time: Spark's rows ({@link RowInput}),
 * or views into the scan's columnar batches whose vectors are copied out in bulk ({@link
 * ColumnarInput}). Either way the scorer sees the same columns at the same ordinals: {@code (id,
 * embedding, passthrough…)} or {@code (id, codes, scale, norm, precision, passthrough…)}, and
 * every row of the partition once.
 */
public interface PartitionInput {

  /** The ordinal of the embedding or codes column. */
  int VALUES = 1;

  /** Moves to the next row; false when the partition has no more. */
  boolean next();

  /** The current row: valid until {@link #next()}, and not to be kept (it may be a reused view). */
  InternalRow row();

  /**
   * Copies the current row's embedding into {@code dst[off, off+dim)}.
   *
   * @return null if it is valid, else the reject reason
   */
  String readEmbedding(EmbeddingColumn column, float[] dst, int off);

  /**
   * Bytes of the current row as stored, for the energy record: its embedding, or (with a null
   * column: a codes input) its codes plus 8 for scale and norm.
   */
  long storedBytes(EmbeddingColumn column);

  /** Length of the current row's codes; the row must have codes (not null). */
  int codesLength();

  /** Copies the current row's codes into {@code dst} at {@code off}. */
  void copyCodes(byte[] dst, int off);

  /** Whether the current row's string at {@code ordinal} (not null) is {@code expected}. */
  default boolean textEquals(int ordinal, org.apache.spark.unsafe.types.UTF8String expected) {
    return row().getUTF8String(ordinal).equals(expected);
  }
}
