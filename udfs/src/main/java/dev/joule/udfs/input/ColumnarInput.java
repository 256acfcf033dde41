package dev.joule.udfs.input;

import dev.joule.udfs.EmbeddingColumn;
import java.util.Iterator;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.execution.vectorized.WritableColumnVector;
import org.apache.spark.sql.vectorized.ColumnVector;
import org.apache.spark.sql.vectorized.ColumnarBatch;

/**
 * The scan's columnar batches (Spark's vectorized Parquet reader), read without turning them into
 * rows first. Each row's embedding floats, or codes bytes, are copied straight from the column
 * vector's array ({@link OnHeapArrays}; where it cannot be read in place, from one copy of the
 * batch's values); ids, scales and passthrough columns are read through the batch's row view.
 * Batches come with their columns in the scorer's order ({@code columns} maps it to the scan's).
 * Where the plan filtered the scan's rows, the same filter ({@link ScanFilter}) skips them here:
 * the scorer never sees them.
 *
 * <p>Vectors that are not Spark's own writable vectors, or that hold nulls inside an embedding or
 * a dictionary for codes, are read row by row through the same view, as {@link RowInput} reads.
 */
public final class ColumnarInput implements PartitionInput {
  private final Iterator<ColumnarBatch> batches;
  private final int[] columns;
  /** Whether a row of the scan's batch is one of the partition's; null: every row is. */
  private final java.util.function.Predicate<InternalRow> filter;
  private ColumnarBatch scanned;
  private ColumnarBatch batch;
  private int rowsInBatch;
  private int rowId;
  private InternalRow row;
  private byte[] rowCodes;
  // The batch's values: the vector's own array (base 0) or a copy from vector offset `base`;
  // null: read per row.
  private WritableColumnVector values;
  private float[] floats;
  private byte[] bytes;
  private int base;
  // textEquals's last answer in this batch: for dictionary entry textDictId of column textOrdinal.
  private int textDictId = -1;
  private int textOrdinal = -1;
  private org.apache.spark.unsafe.types.UTF8String textExpected;
  private boolean textEquals;
  /** Whether this batch's values were located (in place, or copied once, or found unreadable in bulk). */
  private boolean copied;

  /**
   * @param columns for each column the scorer reads, in its order, the ordinal of that column in
   *     the scan's batches
   * @param filter which rows of the scan's batches are the partition's, or null for all of them
   */
  public ColumnarInput(Iterator<ColumnarBatch> batches, int[] columns,
      java.util.function.Predicate<InternalRow> filter) {
    this.batches = batches;
    this.columns = columns.clone();
    this.filter = filter;
  }

  @Override
  public boolean next() {
    do {
      while (batch == null || ++rowId >= rowsInBatch) {
        if (!batches.hasNext()) {
          row = null;
          return false;
        }
        load(batches.next());
      }
    } while (filter != null && !filter.test(scanned.getRow(rowId)));
    row = batch.getRow(rowId);
    rowCodes = null;
    return true;
  }

  private void load(ColumnarBatch scanned) {
    this.scanned = scanned;
    ColumnVector[] v = new ColumnVector[columns.length];
    for (int i = 0; i < v.length; i++) {
      v[i] = scanned.column(columns[i]);
    }
    rowsInBatch = scanned.numRows();
    batch = new ColumnarBatch(v, rowsInBatch);
    rowId = -1;
    copied = false;
    textDictId = -1;
    values = null;
    floats = null;
    bytes = null;
  }

  /**
   * One copy of the whole batch's embedding floats or codes bytes, where the vector allows it:
   * made when the batch's first row is read (a binary embedding, read per row, needs none).
   */
  private void bulkCopy() {
    if (copied) {
      return;
    }
    copied = true;
    ColumnVector v = batch.column(VALUES);
    if (!(v instanceof WritableColumnVector w) || w.hasDictionary() || w.arrayData() == null
        || w.arrayData().hasDictionary()) {
      return;
    }
    WritableColumnVector data = w.arrayData();
    boolean isFloat = data.dataType() instanceof org.apache.spark.sql.types.FloatType;
    if (isFloat ? data.hasNull() : !(data.dataType() instanceof org.apache.spark.sql.types.ByteType)) {
      return; // a null element, or another element type: rows are checked one by one
    }
    floats = isFloat ? OnHeapArrays.floats(data) : null;
    bytes = isFloat ? null : OnHeapArrays.bytes(data);
    base = 0;
    if (floats == null && bytes == null) { // not readable in place: one copy of the batch's range
      int from = Integer.MAX_VALUE;
      int to = 0;
      for (int r = 0; r < rowsInBatch; r++) {
        if (!w.isNullAt(r)) {
          from = Math.min(from, w.getArrayOffset(r));
          to = Math.max(to, w.getArrayOffset(r) + w.getArrayLength(r));
        }
      }
      if (from >= to) {
        return;
      }
      floats = isFloat ? data.getFloats(from, to - from) : null;
      bytes = isFloat ? null : data.getBytes(from, to - from);
      base = from;
    }
    values = w;
  }

  @Override
  public InternalRow row() {
    return row;
  }

  @Override
  public String readEmbedding(EmbeddingColumn column, float[] dst, int off) {
    if (column.layout() == EmbeddingColumn.Layout.ARRAY_FLOAT) {
      bulkCopy();
    }
    if (floats == null || column.layout() != EmbeddingColumn.Layout.ARRAY_FLOAT) {
      return column.read(row, VALUES, dst, off);
    }
    if (values.isNullAt(rowId)) {
      return "null_embedding: embedding is null";
    }
    int n = values.getArrayLength(rowId);
    if (n != column.dim()) {
      return column.wrongDim(n);
    }
    System.arraycopy(floats, values.getArrayOffset(rowId) - base, dst, off, n);
    return EmbeddingColumn.nonFinite(dst, off, n);
  }

  @Override
  public long storedBytes(EmbeddingColumn column) {
    if (column != null) {
      return column.storedBytes(row, VALUES);
    }
    return row.isNullAt(VALUES) ? 0 : codesLength() + 8L; // codes, scale and norm
  }

  @Override
  public int codesLength() {
    bulkCopy();
    return bytes != null ? values.getArrayLength(rowId) : codes().length;
  }

  @Override
  public void copyCodes(byte[] dst, int off) {
    bulkCopy();
    if (bytes != null) {
      System.arraycopy(bytes, values.getArrayOffset(rowId) - base, dst, off, values.getArrayLength(rowId));
    } else {
      System.arraycopy(codes(), 0, dst, off, rowCodes.length);
    }
  }

  /**
   * A dictionary-encoded column (a codes table's constant {@code precision}) is compared once per
   * dictionary entry and batch: Spark decodes a dictionary string into a new array on every read.
   */
  @Override
  public boolean textEquals(int ordinal, org.apache.spark.unsafe.types.UTF8String expected) {
    if (batch.column(ordinal) instanceof WritableColumnVector w && w.hasDictionary()) {
      int id = w.getDictionaryIds().getDictId(rowId);
      if (id != textDictId || ordinal != textOrdinal || expected != textExpected) {
        textEquals = w.getUTF8String(rowId).equals(expected);
        textDictId = id;
        textOrdinal = ordinal;
        textExpected = expected;
      }
      return textEquals;
    }
    return row.getUTF8String(ordinal).equals(expected);
  }

  private byte[] codes() {
    if (rowCodes == null) {
      rowCodes = row.getBinary(VALUES);
    }
    return rowCodes;
  }
}
