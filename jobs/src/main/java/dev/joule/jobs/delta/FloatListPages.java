package dev.joule.jobs.delta;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import org.apache.parquet.column.ColumnDescriptor;
import org.apache.parquet.column.Encoding;
import org.apache.parquet.column.page.DataPage;
import org.apache.parquet.column.page.DataPageV1;
import org.apache.parquet.column.page.DataPageV2;
import org.apache.parquet.column.page.DictionaryPage;
import org.apache.parquet.column.page.PageReader;
import org.apache.spark.sql.execution.vectorized.WritableColumnVector;

/**
 * One row group's float-list column (Spark's three-level list of floats) decoded a page at a
 * time: the levels in runs ({@link HybridLevels}), a PLAIN page's values copied in bulk, a
 * dictionary page's values looked up. parquet-mr's column reader hands out one value and its
 * levels per call, which made reading a night's changed embeddings on the driver about 11 µs a
 * row of 384 floats (bench/README.md, the Spark-free night probe).
 */
final class FloatListPages {

  private static final Set<Encoding> DECODED = EnumSet.of(Encoding.PLAIN, Encoding.PLAIN_DICTIONARY,
      Encoding.RLE_DICTIONARY, Encoding.RLE);
  private static final float[] EMPTY = new float[0];

  private FloatListPages() {}

  /**
   * Whether a column chunk of these encodings is decoded here. {@code BIT_PACKED} is listed by
   * parquet-mr for levels whose maximum is 0, which a list's levels never are; a page whose levels
   * are really bit-packed is refused when it is read.
   */
  static boolean decodes(Set<Encoding> chunkEncodings) {
    for (Encoding e : chunkEncodings) {
      if (!DECODED.contains(e) && e != Encoding.BIT_PACKED) {
        return false;
      }
    }
    return true;
  }

  /**
   * One value per row of the row group: null (a null list), a {@code float[]} (no null element,
   * the shared empty array for an empty list), or an {@code Object[]} of boxed floats with a null
   * where an element is null.
   *
   * @param present the definition level from which the list is not null
   * @param entry the definition level from which an entry holds an element (below: empty list)
   * @throws IllegalStateException where a page is of a layout not decoded here, or its levels or
   *     values do not make {@code rows} rows
   */
  static Object[] read(PageReader pages, ColumnDescriptor column, int rows, int present, int entry) {
    ArraysOut out = new ArraysOut(rows);
    Decoder d = new Decoder(pages, column, rows, present, entry, out);
    while (d.nextPage()) {
      // every page into out
    }
    return out.rows;
  }

  /**
   * A decoder of the row group's lists into {@code lists} (an array-of-float column vector), a
   * page per {@link Decoder#nextPage} call: row {@code r} goes to vector row {@code slot[r] -
   * base}, where {@code base} is what the caller last set ({@link VectorOut#rebase}, after it
   * reset the vector); rows whose slot is negative are decoded and dropped. The values go into the
   * vector's element column in one copy (a null element as a null there).
   */
  static Decoder decoderInto(PageReader pages, ColumnDescriptor column, int rows, int present, int entry,
      VectorOut out) {
    return new Decoder(pages, column, rows, present, entry, out);
  }

  /** One row group's list column, decoded a page at a time; rows go out whole, in order. */
  static final class Decoder {
    private final PageReader pages;
    private final int maxRep;
    private final int maxDef;
    private final Assembly rowsOut;
    private final float[] dictionary;
    private int[] rep = new int[0];
    private int[] def = new int[0];
    private int[] indices = new int[0];
    private float[] values = new float[0];
    private boolean done;

    private Decoder(PageReader pages, ColumnDescriptor column, int rows, int present, int entry, Out out) {
      this.pages = pages;
      this.maxRep = column.getMaxRepetitionLevel();
      this.maxDef = column.getMaxDefinitionLevel();
      if (maxRep != 1 || maxDef < entry || entry != present + 1) {
        throw new IllegalStateException("column " + Arrays.toString(column.getPath()) + " is not a top-level list");
      }
      DictionaryPage dp = pages.readDictionaryPage();
      if (dp != null) {
        if (dp.getEncoding() != Encoding.PLAIN && dp.getEncoding() != Encoding.PLAIN_DICTIONARY) {
          throw new IllegalStateException("dictionary page of encoding " + dp.getEncoding());
        }
        try {
          ByteBuffer d = dp.getBytes().toByteBuffer();
          dictionary = floats(d, d.position(), d.limit(), dp.getDictionarySize());
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      } else {
        dictionary = null;
      }
      rowsOut = new Assembly(rows, present, entry, maxDef, out);
    }

    /**
     * Decodes the next page; after the last, ends the last row and checks the row count.
     *
     * @return false when no page was left
     * @throws IllegalStateException where a page is of a layout not decoded here, or its levels
     *     or values do not make the row group's rows
     */
    boolean nextPage() {
      if (done) {
        return false;
      }
      DataPage page = pages.readPage();
      if (page == null) {
        done = true;
        rowsOut.finish();
        return false;
      }
      try {
        decode(page);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return true;
    }

    private void decode(DataPage page) throws IOException {
      int n = page.getValueCount();
      if (rep.length < n + 8) {
        rep = new int[n + 8];
        def = new int[n + 8];
      }
      ByteBuffer data;
      int at;
      Encoding valueEncoding;
      if (page instanceof DataPageV1 v1) {
        if (v1.getRlEncoding() != Encoding.RLE || v1.getDlEncoding() != Encoding.RLE) {
          throw new IllegalStateException("levels encoded " + v1.getRlEncoding() + "/" + v1.getDlEncoding());
        }
        data = v1.getBytes().toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        at = data.position();
        at = prefixedLevels(data, at, maxRep, n, rep);
        at = prefixedLevels(data, at, maxDef, n, def);
        valueEncoding = v1.getValueEncoding();
      } else if (page instanceof DataPageV2 v2) {
        if (v2.isCompressed()) {
          throw new IllegalStateException("a compressed page handed out by the page reader");
        }
        ByteBuffer r = v2.getRepetitionLevels().toByteBuffer();
        HybridLevels.decode(r, r.position(), r.limit(), HybridLevels.bitWidth(maxRep), maxRep, n, rep);
        ByteBuffer d = v2.getDefinitionLevels().toByteBuffer();
        HybridLevels.decode(d, d.position(), d.limit(), HybridLevels.bitWidth(maxDef), maxDef, n, def);
        data = v2.getData().toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        at = data.position();
        valueEncoding = v2.getDataEncoding();
      } else {
        throw new IllegalStateException("a page of kind " + page.getClass().getSimpleName());
      }
      int nonNull = 0;
      for (int i = 0; i < n; i++) {
        nonNull += def[i] == maxDef ? 1 : 0;
      }
      if (values.length < nonNull) {
        values = new float[nonNull];
      }
      if (valueEncoding == Encoding.PLAIN) {
        if (data.limit() - at < 4L * nonNull) {
          throw new IllegalStateException("a page of " + nonNull + " floats holds " + (data.limit() - at) + " bytes");
        }
        data.duplicate().position(at).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values, 0, nonNull);
      } else if (valueEncoding == Encoding.PLAIN_DICTIONARY || valueEncoding == Encoding.RLE_DICTIONARY) {
        if (dictionary == null) {
          throw new IllegalStateException("a dictionary-encoded page without a dictionary page");
        }
        if (nonNull > 0) {
          if (indices.length < nonNull + 8) {
            indices = new int[nonNull + 8];
          }
          int width = data.get(at) & 0xff;
          if (width > 32) {
            throw new IllegalStateException("dictionary indices of " + width + " bits");
          }
          HybridLevels.decode(data, at + 1, data.limit(), width, dictionary.length - 1, nonNull, indices);
          for (int i = 0; i < nonNull; i++) {
            values[i] = dictionary[indices[i]];
          }
        }
      } else {
        throw new IllegalStateException("values encoded " + valueEncoding);
      }
      rowsOut.page(rep, def, n, values);
    }
  }

  /** V1 levels: a 4-byte little-endian length, then the hybrid encoding. Returns the next offset. */
  private static int prefixedLevels(ByteBuffer data, int at, int max, int n, int[] out) {
    if (data.limit() - at < 4) {
      throw new IllegalStateException("a page ends before its levels");
    }
    int length = data.getInt(at);
    if (length < 0 || length > data.limit() - at - 4) {
      throw new IllegalStateException("levels of " + length + " bytes in a page of " + (data.limit() - at));
    }
    HybridLevels.decode(data, at + 4, at + 4 + length, HybridLevels.bitWidth(max), max, n, out);
    return at + 4 + length;
  }

  private static float[] floats(ByteBuffer b, int from, int to, int count) {
    if (count < 0 || to - from < 4L * count) {
      throw new IllegalStateException("a dictionary of " + count + " floats in " + (to - from) + " bytes");
    }
    float[] out = new float[count];
    b.duplicate().position(from).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    return out;
  }

  /** Where a row group's decoded lists go, row by row in order. */
  private interface Out {
    /** Row {@code row} is a null list, or an empty one. */
    void noElements(int row, boolean nullList);

    /** Row {@code row}'s elements, none null: {@code values[from, from + length)}. */
    void dense(int row, float[] values, int from, int length);

    /** Row {@code row}'s {@code length} elements, null where {@code nulls} says (their value is 0 there). */
    void withNulls(int row, float[] values, boolean[] nulls, int length);
  }

  /** One value per row: null, a {@code float[]}, or an {@code Object[]} of boxed floats and nulls. */
  private static final class ArraysOut implements Out {
    final Object[] rows;

    ArraysOut(int rows) {
      this.rows = new Object[rows];
    }

    @Override
    public void noElements(int row, boolean nullList) {
      rows[row] = nullList ? null : EMPTY;
    }

    @Override
    public void dense(int row, float[] values, int from, int length) {
      rows[row] = Arrays.copyOfRange(values, from, from + length);
    }

    @Override
    public void withNulls(int row, float[] values, boolean[] nulls, int length) {
      Object[] a = new Object[length];
      for (int k = 0; k < length; k++) {
        a[k] = nulls[k] ? null : (Object) values[k];
      }
      rows[row] = a;
    }
  }

  /**
   * The kept rows' lists in an array column vector, their elements appended to its element
   * column: row {@code r} at vector row {@code slot[r] - base}. Counts the kept rows it was given.
   */
  static final class VectorOut implements Out {
    private final WritableColumnVector lists;
    private final int[] slot;
    private int base;
    private int kept;

    VectorOut(WritableColumnVector lists, int[] slot) {
      this.lists = lists;
      this.slot = slot;
    }

    /** The kept rows given so far, whole. */
    int kept() {
      return kept;
    }

    /** Kept row {@code slot} goes to vector row {@code slot - base} from now on (the vector was reset). */
    void rebase(int base) {
      this.base = base;
    }

    /** The vector row of row {@code row}, room made for it; -1 where the row is not kept. */
    private int at(int row) {
      int s = slot[row];
      if (s < 0) {
        return -1;
      }
      kept++;
      int i = s - base;
      if (i < 0) {
        throw new IllegalStateException("row " + row + " (kept row " + s + ") comes after its batch, from " + base);
      }
      lists.reserve(i + 1);
      return i;
    }

    /** Row {@code row}'s list as parquet-mr's per-value reader gives it: null, or a wrapped float[] or boxed Object[]. */
    void put(int row, Object list) {
      if (list == null) {
        noElements(row, true);
        return;
      }
      Object a = ((scala.collection.immutable.ArraySeq<?>) list).unsafeArray();
      if (a instanceof float[] f) {
        dense(row, f, 0, f.length);
        return;
      }
      Object[] boxed = (Object[]) a;
      float[] v = new float[boxed.length];
      boolean[] nulls = new boolean[boxed.length];
      for (int k = 0; k < boxed.length; k++) {
        nulls[k] = boxed[k] == null;
        v[k] = nulls[k] ? 0f : (Float) boxed[k];
      }
      withNulls(row, v, nulls, boxed.length);
    }

    @Override
    public void noElements(int row, boolean nullList) {
      int i = at(row);
      if (i < 0) {
        return;
      }
      if (nullList) {
        lists.putNull(i);
      } else {
        lists.putArray(i, lists.arrayData().getElementsAppended(), 0);
      }
    }

    @Override
    public void dense(int row, float[] values, int from, int length) {
      int i = at(row);
      if (i >= 0) {
        lists.putArray(i, lists.arrayData().appendFloats(length, values, from), length);
      }
    }

    @Override
    public void withNulls(int row, float[] values, boolean[] nulls, int length) {
      int i = at(row);
      if (i < 0) {
        return;
      }
      WritableColumnVector elements = lists.arrayData();
      int first = elements.getElementsAppended();
      for (int k = 0; k < length; k++) {
        if (nulls[k]) {
          elements.appendNull();
        } else {
          elements.appendFloat(values[k]);
        }
      }
      lists.putArray(i, first, length);
    }
  }

  /**
   * Rows made from pages' levels and values. A row wholly in its page without a null element
   * goes out from the page's values; any other (one that may go on in the next page, or holds a
   * null) waits in a builder until its end is seen.
   */
  private static final class Assembly {
    final Out out;
    final int rows;
    final int present;
    final int entry;
    final int maxDef;
    int row = -1;
    /** The open row's values and null flags, where it may go on in the next page. */
    float[] open = new float[0];
    boolean[] openNulls;
    int openLength = -1; // -1: no open row

    Assembly(int rows, int present, int entry, int maxDef, Out out) {
      this.out = out;
      this.rows = rows;
      this.present = present;
      this.entry = entry;
      this.maxDef = maxDef;
    }

    void page(int[] rep, int[] def, int n, float[] values) {
      int v = 0;
      int i = 0;
      while (i < n) {
        boolean starts = rep[i] == 0;
        if (starts) {
          close();
          if (++row >= rows) {
            throw new IllegalStateException("more rows than the row group's " + rows);
          }
        } else if (openLength < 0) {
          throw new IllegalStateException("a list's entry continues no row (row " + row + ")");
        }
        int j = i + 1;
        while (j < n && rep[j] != 0) {
          j++;
        }
        if (starts && def[i] < entry) { // a null or an empty list: one entry, no element
          if (j != i + 1) {
            throw new IllegalStateException("row " + row + ": an empty list with more entries");
          }
          out.noElements(row, def[i] < present);
          i = j;
          continue;
        }
        int nulls = 0;
        for (int k = i; k < j; k++) {
          if (def[k] < entry) {
            throw new IllegalStateException("row " + row + ": an empty list's level inside a list");
          }
          nulls += def[k] < maxDef ? 1 : 0;
        }
        int length = j - i;
        if (starts && j < n && nulls == 0) { // the whole row is in this page, without a null
          out.dense(row, values, v, length);
        } else { // the row may go on in the next page, or holds a null
          if (starts) {
            openLength = 0;
            openNulls = null;
          }
          if (open.length < openLength + length) {
            open = Arrays.copyOf(open, Math.max(openLength + length, open.length * 2));
            if (openNulls != null) {
              openNulls = Arrays.copyOf(openNulls, open.length);
            }
          }
          if (nulls == 0) {
            System.arraycopy(values, v, open, openLength, length);
          } else {
            if (openNulls == null) {
              openNulls = new boolean[open.length];
            }
            for (int k = 0, vv = v; k < length; k++) {
              boolean isNull = def[i + k] < maxDef;
              openNulls[openLength + k] = isNull;
              open[openLength + k] = isNull ? 0f : values[vv++];
            }
          }
          openLength += length;
        }
        v += length - nulls;
        i = j;
      }
    }

    /** Ends the open row, if any: it had no more entries. */
    private void close() {
      if (openLength < 0) {
        return;
      }
      boolean anyNull = false;
      for (int k = 0; openNulls != null && k < openLength; k++) {
        anyNull |= openNulls[k];
      }
      if (anyNull) {
        out.withNulls(row, open, openNulls, openLength);
      } else {
        out.dense(row, open, 0, openLength);
      }
      openLength = -1;
      openNulls = null;
    }

    void finish() {
      close();
      if (row + 1 != rows) {
        throw new IllegalStateException("pages of " + (row + 1) + " rows in a row group of " + rows);
      }
    }
  }
}
