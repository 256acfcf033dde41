package dev.joule.jobs.delta;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.HadoopReadOptions;
import org.apache.parquet.column.ColumnDescriptor;
import org.apache.parquet.column.ColumnReader;
import org.apache.parquet.column.impl.ColumnReadStoreImpl;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.filter2.compat.FilterCompat;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.ColumnChunkMetaData;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;
import org.apache.spark.sql.execution.vectorized.OnHeapColumnVector;
import org.apache.spark.sql.execution.vectorized.WritableColumnVector;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.vectorized.ColumnarBatch;

/**
 * The rows of one Parquet data file of a plain Delta table (no deletion vector on the file, no
 * partition or mapped columns), read on the driver with parquet-mr's column readers and one
 * Hadoop configuration: flat strings, longs, ints, doubles, floats and booleans, and float arrays
 * as Spark writes lists, those a page at a time where their encodings allow
 * ({@link FloatListPages}). Delta Kernel's default reader assembles each record through converters
 * into its own vectors (boxing two ints per array element read back) and builds a new Hadoop
 * configuration for each file, parsing Hadoop's XML resources twice a file; for the quality
 * gate's 10,000 kept rows of 384 floats in 14 files that was about half of a codes run's driver
 * CPU (JFR). Values are the ones {@link DriverTableReader} gives: a float array unboxed when it
 * has no null element. Public for a reader without a Spark session (the bench's {@code KernelNightProbe}).
 */
public final class DriverParquetRows {

  private DriverParquetRows() {}

  /** Whether every column of {@code schema} is of a type read here. */
  public static boolean reads(StructType schema) {
    for (StructField f : schema.fields()) {
      DataType t = f.dataType();
      boolean flat = t == DataTypes.StringType || t == DataTypes.LongType || t == DataTypes.IntegerType
          || t == DataTypes.DoubleType || t == DataTypes.FloatType || t == DataTypes.BooleanType;
      if (!flat && !(t instanceof ArrayType a && a.elementType() == DataTypes.FloatType)) {
        return false;
      }
    }
    return true;
  }

  /** How a float list column is decoded. */
  public enum FloatLists {
    /** A page at a time ({@link FloatListPages}), where the column chunk's encodings allow. */
    PAGES,
    /** One value and its levels at a time, by parquet-mr's column reader. */
    PER_VALUE
  }

  /**
   * The file's rows, in the columns of {@code schema} (by name; a column the file lacks is null
   * in every row), float lists decoded a page at a time where their encodings allow.
   *
   * @throws IllegalStateException where the file's layout is not one read here (its caller then
   *     reads that file with Kernel)
   */
  public static List<Object[]> read(Configuration conf, Path file, StructType schema) {
    return read(conf, file, schema, FloatLists.PAGES);
  }

  /** As {@link #read(Configuration, Path, StructType)}, float lists decoded as {@code lists} says. */
  public static List<Object[]> read(Configuration conf, Path file, StructType schema, FloatLists lists) {
    try (ParquetFileReader reader = ParquetFileReader.open(HadoopInputFile.fromPath(file, conf), everyRow(conf))) {
      Requested req = requested(reader, file, schema);
      Column[] columns = req.columns();
      MessageType requested = req.schema();
      String createdBy = reader.getFooter().getFileMetaData().getCreatedBy();
      List<Object[]> out = new ArrayList<>();
      PageReadStore group;
      int block = 0;
      while ((group = reader.readNextRowGroup()) != null) {
        while (reader.getRowGroups().get(block).getRowCount() == 0) {
          block++; // readNextRowGroup skips empty row groups
        }
        BlockMetaData meta = reader.getRowGroups().get(block++);
        if (group.getRowCount() > Integer.MAX_VALUE - 8) {
          throw new IllegalStateException(file + ": a row group of " + group.getRowCount() + " rows");
        }
        int rows = (int) group.getRowCount();
        ColumnReadStoreImpl store = new ColumnReadStoreImpl(group, DriverKeyScan.IGNORED, requested, createdBy);
        ColumnReader[] readers = new ColumnReader[columns.length];
        Object[][] decoded = new Object[columns.length][];
        for (int c = 0; c < columns.length; c++) {
          Column col = columns[c];
          if (col == null) {
            continue;
          }
          if (col.list && lists == FloatLists.PAGES && FloatListPages.decodes(encodings(meta, col.descriptor))) {
            try {
              decoded[c] = FloatListPages.read(group.getPageReader(col.descriptor), col.descriptor, rows, col.present,
                  col.entry);
            } catch (IllegalStateException e) {
              throw new IllegalStateException(file + ": column " + col.path[0] + ": " + e.getMessage(), e);
            }
          } else {
            readers[c] = store.getColumnReader(col.descriptor);
            col.left = readers[c].getTotalValueCount();
          }
        }
        for (int r = 0; r < rows; r++) {
          Object[] row = new Object[columns.length];
          for (int c = 0; c < columns.length; c++) {
            if (decoded[c] != null) {
              Object v = decoded[c][r];
              row[c] = v == null ? null : scala.collection.immutable.ArraySeq.unsafeWrapArray(v);
            } else {
              row[c] = columns[c] == null ? null : columns[c].next(readers[c]);
            }
          }
          out.add(row);
        }
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": " + e.getMessage(), e);
    }
  }

  /** Read options that hand out every row of a file: no record, statistics, dictionary, index or bloom filter. */
  static org.apache.parquet.ParquetReadOptions everyRow(Configuration conf) {
    return HadoopReadOptions.builder(conf).withRecordFilter(FilterCompat.NOOP).useRecordFilter(false)
        .useStatsFilter(false).useDictionaryFilter(false).useColumnIndexFilter(false).useBloomFilter(false).build();
  }

  /** Which rows of a row group a batch keeps, from the values of their flat columns. */
  @FunctionalInterface
  public interface RowFilter {
    /**
     * @param flat the row's values in the columns of the schema read, a float list's always null
     *     (it is not decoded yet)
     */
    boolean keeps(Object[] flat);
  }

  /**
   * The file's rows that {@code keep} accepts, in batches of about {@code batchRows} rows, in the
   * columns of {@code schema}: Spark's on-heap column vectors, a float list as an array vector
   * over one float column (the values copied once, from the page). Each row group's flat columns
   * are read first, then its float lists a page at a time into the batch, and only in row groups
   * that keep a row. The batches are made in {@code vectors} (one per column of {@code schema},
   * from {@link #vectors}), reset for each: a batch is read until the next {@code hasNext}, as
   * Spark's vectorized reader hands its batches out. A caller reading many files passes the same
   * vectors to each, so that they grow once. Close it where it is not read to its end.
   *
   * @throws IllegalStateException as {@link #read(Configuration, Path, StructType)}, from any call
   */
  public static Batches batches(Configuration conf, Path file, StructType schema, RowFilter keep, int batchRows,
      OnHeapColumnVector[] vectors) {
    return new Batches(conf, file, schema, keep, batchRows, FloatLists.PAGES, vectors);
  }

  /** As {@link #batches(Configuration, Path, StructType, RowFilter, int, OnHeapColumnVector[])}, float lists decoded as {@code lists} says. */
  public static Batches batches(Configuration conf, Path file, StructType schema, RowFilter keep, int batchRows,
      FloatLists lists, OnHeapColumnVector[] vectors) {
    return new Batches(conf, file, schema, keep, batchRows, lists, vectors);
  }

  /** Vectors for {@link #batches} of {@code schema}. */
  public static OnHeapColumnVector[] vectors(int batchRows, StructType schema) {
    return OnHeapColumnVector.allocateColumns(Math.max(1, batchRows), schema);
  }

  /** The kept rows of one file, batch by batch; the file is open until the last batch is taken or it is closed. */
  public static final class Batches implements java.util.Iterator<ColumnarBatch>, AutoCloseable {
    private final Path file;
    private final RowFilter keep;
    private final int batchRows;
    private final FloatLists lists;
    private final ParquetFileReader reader;
    private final Requested req;
    private final String createdBy;
    private final OnHeapColumnVector[] vectors;
    private final int listColumn;
    private int block;
    // The row group being read: its flat values, the row of each kept row, and the list decoder.
    private Object[][] flat;
    private int[] keptRows;
    private FloatListPages.VectorOut listOut;
    private FloatListPages.Decoder pages;
    private ColumnReader perValue;
    private int perValueRow;
    private int rows;
    /** Kept rows of the row group already handed out in batches. */
    private int base;
    private ColumnarBatch pending;
    private boolean closed;

    private Batches(Configuration conf, Path file, StructType schema, RowFilter keep, int batchRows,
        FloatLists lists, OnHeapColumnVector[] vectors) {
      if (vectors.length != schema.size()) {
        throw new IllegalArgumentException(vectors.length + " vectors for " + schema.size() + " columns");
      }
      this.vectors = vectors;
      this.file = file;
      this.keep = keep;
      this.batchRows = Math.max(1, batchRows);
      this.lists = lists;
      try {
        reader = ParquetFileReader.open(HadoopInputFile.fromPath(file, conf), everyRow(conf));
      } catch (IOException e) {
        throw new UncheckedIOException(file + ": " + e.getMessage(), e);
      }
      try {
        req = requested(reader, file, schema);
        createdBy = reader.getFooter().getFileMetaData().getCreatedBy();
        int list = -1;
        for (int c = 0; c < req.columns().length; c++) {
          if (req.columns()[c] != null && req.columns()[c].list) {
            if (list >= 0) {
              throw new IllegalStateException(file + ": more than one float list column read in batches");
            }
            list = c;
          }
        }
        listColumn = list;
      } catch (RuntimeException e) {
        closeQuietly(e);
        throw e;
      }
    }

    @Override
    public boolean hasNext() {
      if (closed) {
        return false;
      }
      try {
        while (pending == null) {
          if (flat == null && !nextRowGroup()) {
            close();
            return false;
          }
          cut();
        }
        return true;
      } catch (IOException e) {
        UncheckedIOException u = new UncheckedIOException(file + ": " + e.getMessage(), e);
        closeQuietly(u);
        throw u;
      } catch (RuntimeException e) {
        closeQuietly(e);
        throw e;
      }
    }

    @Override
    public ColumnarBatch next() {
      if (!hasNext()) {
        throw new java.util.NoSuchElementException();
      }
      ColumnarBatch b = pending;
      pending = null;
      return b;
    }

    /** The next row group that keeps a row, its flat columns read; false at the end of the file. */
    private boolean nextRowGroup() throws IOException {
      while (true) {
        PageReadStore group = reader.readNextRowGroup();
        if (group == null) {
          return false;
        }
        while (reader.getRowGroups().get(block).getRowCount() == 0) {
          block++; // readNextRowGroup skips empty row groups
        }
        BlockMetaData meta = reader.getRowGroups().get(block++);
        if (group.getRowCount() > Integer.MAX_VALUE - 8) {
          throw new IllegalStateException(file + ": a row group of " + group.getRowCount() + " rows");
        }
        rows = (int) group.getRowCount();
        Column[] columns = req.columns();
        ColumnReadStoreImpl store = new ColumnReadStoreImpl(group, DriverKeyScan.IGNORED, req.schema(), createdBy);
        Object[][] values = new Object[rows][columns.length];
        for (int c = 0; c < columns.length; c++) {
          Column col = columns[c];
          if (col != null && !col.list) {
            ColumnReader r = store.getColumnReader(col.descriptor);
            col.left = r.getTotalValueCount();
            for (int row = 0; row < rows; row++) {
              values[row][c] = col.next(r);
            }
          }
        }
        int[] slot = new int[rows];
        int kept = 0;
        for (int row = 0; row < rows; row++) {
          slot[row] = keep.keeps(values[row]) ? kept++ : -1;
        }
        if (kept == 0) {
          continue; // its lists are not decoded
        }
        keptRows = new int[kept];
        for (int row = 0; row < rows; row++) {
          if (slot[row] >= 0) {
            keptRows[slot[row]] = row;
          }
        }
        flat = values;
        base = 0;
        pages = null;
        perValue = null;
        listOut = null;
        if (listColumn >= 0) {
          Column col = columns[listColumn];
          listOut = new FloatListPages.VectorOut(vectors[listColumn], slot);
          if (lists == FloatLists.PAGES && FloatListPages.decodes(encodings(meta, col.descriptor))) {
            try {
              pages = FloatListPages.decoderInto(group.getPageReader(col.descriptor), col.descriptor, rows,
                  col.present, col.entry, listOut);
            } catch (IllegalStateException e) {
              throw new IllegalStateException(file + ": column " + col.path[0] + ": " + e.getMessage(), e);
            }
          } else {
            perValue = store.getColumnReader(col.descriptor);
            col.left = perValue.getTotalValueCount();
            perValueRow = 0;
          }
        }
        return true;
      }
    }

    /**
     * The row group's next batch into {@code pending}: the vectors reset, then lists decoded a page
     * (or a batch of rows) at a time until a batch's worth of kept rows is whole, then those rows'
     * flat values put beside them.
     */
    private void cut() {
      for (OnHeapColumnVector v : vectors) {
        v.reset();
      }
      int kept = keptRows.length;
      int upTo;
      if (listOut == null) {
        upTo = Math.min(kept, base + batchRows);
      } else {
        listOut.rebase(base);
        Column col = req.columns()[listColumn];
        try {
          // Up to a batch, or the row group's last kept row: the pages after it are not decoded
          // (so neither is their row count checked; the flat columns' was).
          while (listOut.kept() - base < batchRows && listOut.kept() < kept && more(col)) {
            // decoded into the list vector
          }
        } catch (IllegalStateException e) {
          throw new IllegalStateException(file + ": column " + col.path[0] + ": " + e.getMessage(), e);
        }
        upTo = listOut.kept();
        if (upTo - base < batchRows && upTo < kept) { // the decoder ran out of pages
          throw new IllegalStateException(file + ": column " + col.path[0] + " ends before its row " + keptRows[upTo]);
        }
      }
      int n = upTo - base;
      for (int c = 0; c < vectors.length; c++) {
        Column col = req.columns()[c];
        if (c == listColumn) {
          continue;
        }
        vectors[c].reserve(n);
        if (col == null) {
          vectors[c].putNulls(0, n);
          continue;
        }
        for (int i = 0; i < n; i++) {
          put(vectors[c], i, flat[keptRows[base + i]][c]);
        }
      }
      base = upTo;
      if (base == kept) {
        flat = null; // the pages after the last kept row are not decoded
      }
      pending = n == 0 ? null : new ColumnarBatch(vectors, n);
    }

    /** Decodes more of the list column: a page, or a batch of rows read one value at a time; false at its end. */
    private boolean more(Column col) {
      if (pages != null) {
        return pages.nextPage();
      }
      if (perValueRow >= rows) {
        return false;
      }
      int to = Math.min(rows, perValueRow + batchRows);
      for (; perValueRow < to; perValueRow++) {
        listOut.put(perValueRow, col.next(perValue));
      }
      return true;
    }

    @Override
    public void close() {
      if (!closed) {
        closed = true;
        flat = null;
        pending = null;
        try {
          reader.close();
        } catch (IOException e) {
          throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
      }
    }

    private void closeQuietly(Exception cause) {
      try {
        close();
      } catch (RuntimeException e) {
        cause.addSuppressed(e);
      }
    }
  }

  /** The columns of {@code schema} in the file (null where it lacks one), and the file schema of those it has. */
  private record Requested(Column[] columns, MessageType schema) {}

  /** The columns of {@code schema} in the file, set as the reader's requested schema. */
  private static Requested requested(ParquetFileReader reader, Path file, StructType schema) {
    MessageType fileSchema = reader.getFooter().getFileMetaData().getSchema();
    List<Type> read = new ArrayList<>();
    Column[] columns = new Column[schema.size()];
    for (int c = 0; c < columns.length; c++) {
      StructField f = schema.fields()[c];
      Type t = field(fileSchema, f.name(), file);
      if (t == null) {
        continue; // null in every row
      }
      read.add(t);
      columns[c] = new Column(f.dataType(), t, file);
    }
    MessageType requested = new MessageType(fileSchema.getName(), read);
    reader.setRequestedSchema(requested);
    for (Column c : columns) {
      if (c != null) {
        c.descriptor = requested.getColumnDescription(c.path);
      }
    }
    return new Requested(columns, requested);
  }

  /** A flat value as {@link Column#next} gives it, put at {@code row}. */
  private static void put(WritableColumnVector v, int row, Object value) {
    if (value == null) {
      v.putNull(row);
    } else if (value instanceof Long l) {
      v.putLong(row, l);
    } else if (value instanceof String s) {
      v.putByteArray(row, s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    } else if (value instanceof Integer i) {
      v.putInt(row, i);
    } else if (value instanceof Double d) {
      v.putDouble(row, d);
    } else if (value instanceof Float f) {
      v.putFloat(row, f);
    } else {
      v.putBoolean(row, (Boolean) value);
    }
  }

  /** The chunk of {@code column} in the row group {@code block}, or null. */
  private static ColumnChunkMetaData chunk(BlockMetaData block, ColumnDescriptor column) {
    org.apache.parquet.hadoop.metadata.ColumnPath path =
        org.apache.parquet.hadoop.metadata.ColumnPath.get(column.getPath());
    for (ColumnChunkMetaData chunk : block.getColumns()) {
      if (chunk.getPath().equals(path)) {
        return chunk;
      }
    }
    return null;
  }

  /** The encodings of {@code column}'s chunk in the row group {@code block}. */
  private static java.util.Set<org.apache.parquet.column.Encoding> encodings(BlockMetaData block,
      ColumnDescriptor column) {
    ColumnChunkMetaData chunk = chunk(block, column);
    // not found: read per value
    return chunk == null ? java.util.Set.of(org.apache.parquet.column.Encoding.BYTE_STREAM_SPLIT) : chunk.getEncodings();
  }

  /**
   * The file's top-level column {@code name}: its exact name, else the one that matches it
   * ignoring case (as Kernel's and Spark's readers resolve it), or null where it has none.
   */
  private static Type field(MessageType schema, String name, Path file) {
    if (schema.containsField(name)) {
      return schema.getType(name);
    }
    Type found = null;
    for (Type t : schema.getFields()) {
      if (t.getName().equalsIgnoreCase(name)) {
        if (found != null) {
          throw new IllegalStateException(file + ": columns " + found.getName() + " and " + t.getName() + " both match "
              + name);
        }
        found = t;
      }
    }
    return found;
  }

  /** One top-level column: a flat value, or a float list in Spark's three-level layout. */
  private static final class Column {
    final DataType type;
    final String[] path;
    final boolean list;
    /** A list's definition levels: below {@code present} the array is null, below {@code entry} empty. */
    final int present;
    final int entry;
    ColumnDescriptor descriptor;
    /** Values left in the row group's column chunk. */
    long left;

    Column(DataType type, Type field, Path file) {
      this.type = type;
      if (type instanceof ArrayType) {
        // optional group f (LIST) { repeated group list { optional|required float element } }
        if (field.isPrimitive()
            || !(field.getLogicalTypeAnnotation() instanceof LogicalTypeAnnotation.ListLogicalTypeAnnotation)
            || field.asGroupType().getFieldCount() != 1) {
          throw new IllegalStateException(file + ": column " + field.getName() + " is not a list as Spark writes one");
        }
        Type repeated = field.asGroupType().getType(0);
        if (repeated.isPrimitive() || !repeated.isRepetition(Type.Repetition.REPEATED)
            || ((GroupType) repeated).getFieldCount() != 1 || !((GroupType) repeated).getType(0).isPrimitive()
            || ((GroupType) repeated).getType(0).asPrimitiveType().getPrimitiveTypeName() != PrimitiveTypeName.FLOAT) {
          throw new IllegalStateException(file + ": column " + field.getName()
              + " is not a float list as Spark writes one");
        }
        Type element = ((GroupType) repeated).getType(0);
        path = new String[] {field.getName(), repeated.getName(), element.getName()};
        list = true;
        present = field.isRepetition(Type.Repetition.OPTIONAL) ? 1 : 0;
        entry = present + 1;
      } else {
        if (!field.isPrimitive() || field.isRepetition(Type.Repetition.REPEATED)
            || field.asPrimitiveType().getPrimitiveTypeName() != primitive(type)) {
          throw new IllegalStateException(file + ": column " + field.getName() + " is not a " + type.simpleString());
        }
        path = new String[] {field.getName()};
        list = false;
        present = 0;
        entry = 0;
      }
    }

    private static PrimitiveTypeName primitive(DataType t) {
      if (t == DataTypes.StringType) {
        return PrimitiveTypeName.BINARY;
      } else if (t == DataTypes.LongType) {
        return PrimitiveTypeName.INT64;
      } else if (t == DataTypes.IntegerType) {
        return PrimitiveTypeName.INT32;
      } else if (t == DataTypes.DoubleType) {
        return PrimitiveTypeName.DOUBLE;
      } else if (t == DataTypes.FloatType) {
        return PrimitiveTypeName.FLOAT;
      }
      return PrimitiveTypeName.BOOLEAN;
    }

    /** The next row's value, consumed from {@code r}. */
    Object next(ColumnReader r) {
      int max = descriptor.getMaxDefinitionLevel();
      int d = r.getCurrentDefinitionLevel();
      if (!list) {
        Object v = d < max ? null : flat(r);
        consume(r);
        return v;
      }
      if (d < entry) {
        consume(r);
        return d < present ? null : scala.collection.immutable.ArraySeq.unsafeWrapArray(new float[0]);
      }
      float[] values = new float[16];
      boolean[] nulls = null;
      int n = 0;
      do {
        if (n == values.length) {
          values = java.util.Arrays.copyOf(values, n * 2);
          nulls = nulls == null ? null : java.util.Arrays.copyOf(nulls, n * 2);
        }
        if (r.getCurrentDefinitionLevel() < max) {
          if (nulls == null) {
            nulls = new boolean[values.length];
          }
          nulls[n] = true;
        } else {
          values[n] = r.getFloat();
        }
        n++;
        consume(r);
      } while (left > 0 && r.getCurrentRepetitionLevel() > 0);
      if (nulls == null) {
        return scala.collection.immutable.ArraySeq.unsafeWrapArray(java.util.Arrays.copyOf(values, n));
      }
      Object[] boxed = new Object[n];
      for (int i = 0; i < n; i++) {
        boxed[i] = nulls[i] ? null : values[i];
      }
      return scala.collection.immutable.ArraySeq.unsafeWrapArray(boxed);
    }

    private void consume(ColumnReader r) {
      r.consume();
      left--;
    }

    private Object flat(ColumnReader r) {
      if (type == DataTypes.StringType) {
        return r.getBinary().toStringUsingUTF8();
      } else if (type == DataTypes.LongType) {
        return r.getLong();
      } else if (type == DataTypes.IntegerType) {
        return r.getInteger();
      } else if (type == DataTypes.DoubleType) {
        return r.getDouble();
      } else if (type == DataTypes.FloatType) {
        return r.getFloat();
      }
      return r.getBoolean();
    }
  }
}
