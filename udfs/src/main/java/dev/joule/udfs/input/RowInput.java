package dev.joule.udfs.input;

import dev.joule.udfs.EmbeddingColumn;
import java.util.Iterator;
import org.apache.spark.sql.catalyst.InternalRow;

/** Spark's rows, as a plan that has no columnar scan gives them. */
public final class RowInput implements PartitionInput {
  private final Iterator<InternalRow> rows;
  private InternalRow row;
  /** The current row's codes, read once (each getBinary copies). */
  private byte[] codes;

  public RowInput(Iterator<InternalRow> rows) {
    this.rows = rows;
  }

  @Override
  public boolean next() {
    if (!rows.hasNext()) {
      row = null;
      return false;
    }
    row = rows.next();
    codes = null;
    return true;
  }

  @Override
  public InternalRow row() {
    return row;
  }

  @Override
  public String readEmbedding(EmbeddingColumn column, float[] dst, int off) {
    return column.read(row, VALUES, dst, off);
  }

  @Override
  public long storedBytes(EmbeddingColumn column) {
    if (column != null) {
      return column.storedBytes(row, VALUES);
    }
    return row.isNullAt(VALUES) ? 0 : codes().length + 8L; // codes, scale and norm
  }

  @Override
  public int codesLength() {
    return codes().length;
  }

  @Override
  public void copyCodes(byte[] dst, int off) {
    System.arraycopy(codes(), 0, dst, off, codes.length);
  }

  private byte[] codes() {
    if (codes == null) {
      codes = row.getBinary(VALUES);
    }
    return codes;
  }
}
