package dev.joule.jobs.delta;

import dev.joule.udfs.files.KeyIndex;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.column.ColumnDescriptor;
import org.apache.parquet.column.ColumnReader;
import org.apache.parquet.column.impl.ColumnReadStoreImpl;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.io.api.Converter;
import org.apache.parquet.io.api.GroupConverter;
import org.apache.parquet.io.api.PrimitiveConverter;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;
import org.apache.spark.sql.delta.deletionvectors.RoaringBitmapArray;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StringType;

/**
 * The positions of the rows whose key is wanted in a few Parquet files, found on the driver: the
 * key and scope columns read with parquet-mr's column readers, every row group in order, so a
 * row's ordinal in its file is its position (what a deletion vector counts). No Spark job: for a
 * night's few thousand keys in a table of a few million rows, a job's planning and task start
 * cost more than the read (about 85 ns a row of driver CPU here, against about 380 ns a row of
 * task CPU for the Spark job's scan). One Hadoop configuration serves every file;
 * a reader built without one loads Hadoop's XML resources again for each file (about 3 ms).
 *
 * <p>Top-level integer keys (INT32/INT64) and string keys (BINARY), string scope columns. A file
 * without the key column holds no wanted row; one without a scope column has no row in scope (its
 * value is null), as Spark's Parquet reader gives them.
 */
final class DriverKeyScan {

  /** The keys wanted: sorted longs for an integer key column, else strings. */
  record Wanted(long[] sortedLongs, Set<String> strings, long[] hashBits) {

    Wanted(long[] sortedLongs, Set<String> strings) {
      this(sortedLongs, strings, sortedLongs == null ? null : hashBits(sortedLongs));
    }

    boolean test(ColumnReader r, PrimitiveTypeName type) {
      return switch (type) {
        case INT64 -> sortedLongs != null && has(r.getLong());
        case INT32 -> sortedLongs != null && has(r.getInteger());
        case BINARY -> strings != null && strings.contains(r.getBinary().toStringUsingUTF8());
        default -> throw new IllegalStateException("a key of type " + type);
      };
    }

    /** Most rows hold no wanted key: one bit of a hash answers for them, a bisection for the rest. */
    boolean has(long key) {
      int bit = bit(key, hashBits.length);
      return (hashBits[bit >>> 6] & (1L << bit)) != 0 && Arrays.binarySearch(sortedLongs, key) >= 0;
    }

    /** About 16 bits a key: one row in 16 or fewer that holds no key gets past the bit. */
    private static long[] hashBits(long[] keys) {
      int words = Integer.highestOneBit((int) Math.min(1 << 26, Math.max(16, (long) keys.length / 4)) * 2 - 1);
      long[] bits = new long[words];
      for (long k : keys) {
        int bit = bit(k, words);
        bits[bit >>> 6] |= 1L << bit;
      }
      return bits;
    }

    private static int bit(long key, int words) {
      long h = key * 0x9E3779B97F4A7C15L;
      return (int) ((h ^ (h >>> 32)) & ((long) words * 64 - 1));
    }
  }

  private DriverKeyScan() {}

  /**
   * Whether the driver can read a key column of {@code keyType} with scope columns of
   * {@code scopeTypes}: integer or string keys, string scope columns.
   */
  static boolean readable(DataType keyType, Iterable<DataType> scopeTypes) {
    boolean key = dev.joule.udfs.files.TaskOutput.IntegerRange.tracks(keyType) || keyType instanceof StringType;
    for (DataType t : scopeTypes) {
      key &= t instanceof StringType;
    }
    return key;
  }

  /** A file holds another number of rows than its Delta statistics say. */
  static final class RowCountMismatch extends IllegalStateException {
    RowCountMismatch(String message) {
      super(message);
    }
  }

  /**
   * A file to read: its absolute path, its rows as its Delta statistics count them, and its size
   * and modification time as its Delta entry gives them (what its {@link KeyIndex} is checked by).
   */
  record DataFile(Path path, long rows, long bytes, long modified) {}

  /**
   * The wanted rows' positions per file, for the files holding any.
   *
   * @param files a caller's name for each file → the file
   * @param scope column → value: a row is wanted only where each of these columns has its value
   * @param writeIndexes whether a file read whole for an integer key, without a scope, gets the
   *     {@link KeyIndex} a later night searches instead (best effort: a file whose index cannot
   *     be written is read again next time)
   * @throws RowCountMismatch where a file holds another number of rows than its statistics say:
   *     a position found would then not be the row's
   */
  static Map<String, RoaringBitmapArray> positions(Configuration conf, Map<String, DataFile> files, String keyColumn,
      Wanted wanted, Map<String, String> scope, boolean writeIndexes) {
    // Every row group is read, whatever filter a configuration may carry: a row group skipped
    // would shift the positions of every row after it.
    var options = DriverParquetRows.everyRow(conf);
    Map<String, RoaringBitmapArray> out = new HashMap<>();
    for (Map.Entry<String, DataFile> f : files.entrySet()) {
      Path path = f.getValue().path();
      try (ParquetFileReader reader = ParquetFileReader.open(HadoopInputFile.fromPath(path, conf), options)) {
        RoaringBitmapArray bits = scan(conf, reader, keyColumn, wanted, scope, f.getValue(), writeIndexes);
        if (bits != null) {
          out.put(f.getKey(), bits);
        }
      } catch (IOException e) {
        throw new UncheckedIOException(path + ": " + e.getMessage(), e);
      }
    }
    return out;
  }

  private static RoaringBitmapArray scan(Configuration conf, ParquetFileReader reader, String keyColumn, Wanted wanted,
      Map<String, String> scope, DataFile dataFile, boolean writeIndex) throws IOException {
    Path file = dataFile.path();
    long rowsInFile = reader.getRecordCount();
    if (rowsInFile != dataFile.rows()) {
      throw new RowCountMismatch(file + " holds " + rowsInFile + " rows; its Delta statistics say "
          + dataFile.rows());
    }
    MessageType schema = reader.getFooter().getFileMetaData().getSchema();
    Type keyField = field(schema, keyColumn, file);
    if (keyField == null) {
      return null; // no key: no wanted row
    }
    Map<Type, byte[]> scopeValues = new LinkedHashMap<>();
    for (Map.Entry<String, String> s : scope.entrySet()) {
      Type t = field(schema, s.getKey(), file);
      if (t == null) {
        return null; // every row's value is null: none in scope
      }
      scopeValues.put(t, s.getValue().getBytes(StandardCharsets.UTF_8));
    }
    List<Type> read = new java.util.ArrayList<>(List.of(keyField));
    read.addAll(scopeValues.keySet());
    MessageType requested = new MessageType(schema.getName(), read);
    reader.setRequestedSchema(requested);
    String createdBy = reader.getFooter().getFileMetaData().getCreatedBy();
    ColumnDescriptor keyColumnOf = requested.getColumnDescription(new String[] {keyField.getName()});
    PrimitiveTypeName keyType = keyColumnOf.getPrimitiveType().getPrimitiveTypeName();
    ColumnDescriptor[] scopeColumns = scopeValues.keySet().stream()
        .map(t -> requested.getColumnDescription(new String[] {t.getName()})).toArray(ColumnDescriptor[]::new);
    byte[][] scopeBytes = scopeValues.values().toArray(new byte[0][]);
    RoaringBitmapArray bits = null;
    // Every key, by row, for the file's index: integer keys set in every row, every row in scope.
    long[] all = writeIndex && scopeColumns.length == 0 && wanted.sortedLongs() != null
        && (keyType == PrimitiveTypeName.INT64 || keyType == PrimitiveTypeName.INT32)
        && rowsInFile <= KeyIndex.MAX_ROWS ? new long[(int) rowsInFile] : null;
    long base = 0;
    PageReadStore group;
    while ((group = reader.readNextRowGroup()) != null) {
      ColumnReadStoreImpl store = new ColumnReadStoreImpl(group, IGNORED, requested, createdBy);
      ColumnReader key = store.getColumnReader(keyColumnOf);
      ColumnReader[] scopes = new ColumnReader[scopeColumns.length];
      for (int i = 0; i < scopes.length; i++) {
        scopes[i] = store.getColumnReader(scopeColumns[i]);
      }
      int keyDefined = keyColumnOf.getMaxDefinitionLevel();
      long rows = group.getRowCount();
      for (long r = 0; r < rows; r++) {
        boolean hit;
        if (all != null) {
          if (key.getCurrentDefinitionLevel() != keyDefined) {
            all = null; // a null key: no index
            hit = false;
          } else {
            long v = keyType == PrimitiveTypeName.INT64 ? key.getLong() : key.getInteger();
            all[(int) (base + r)] = v;
            hit = wanted.has(v);
          }
        } else {
          hit = key.getCurrentDefinitionLevel() == keyDefined && wanted.test(key, keyType);
        }
        key.consume();
        for (int i = 0; i < scopes.length; i++) {
          ColumnReader s = scopes[i];
          if (s.getCurrentDefinitionLevel() != scopeColumns[i].getMaxDefinitionLevel()) {
            hit = false; // null: out of scope
          } else if (hit) {
            hit = Arrays.equals(s.getBinary().getBytesUnsafe(), scopeBytes[i]);
          } else {
            s.skip(); // a value not read must be skipped, or the next row reads it
          }
          s.consume();
        }
        if (hit) {
          if (bits == null) {
            bits = new RoaringBitmapArray();
          }
          bits.add(base + r);
        }
      }
      base += rows;
    }
    if (base != rowsInFile) {
      throw new RowCountMismatch(file + ": " + base + " rows read of " + rowsInFile);
    }
    if (all != null) {
      try {
        KeyIndex.write(conf, file, dataFile.bytes(), dataFile.modified(), keyColumn, all, all.length);
      } catch (IOException | RuntimeException e) {
        // read again by the next night
      }
    }
    return bits;
  }

  /**
   * The top-level column {@code name} (its exact name, else the one that matches it ignoring
   * case, as Spark's reader resolves it), or null where the file has none.
   */
  private static Type field(MessageType schema, String name, Path file) {
    Type found = null;
    for (Type t : schema.getFields()) {
      if (t.getName().equals(name)) {
        found = t;
        break;
      }
      if (t.getName().equalsIgnoreCase(name)) {
        if (found != null) {
          throw new IllegalStateException(file + ": columns " + found.getName() + " and " + t.getName()
              + " both match " + name);
        }
        found = t;
      }
    }
    if (found != null && (!found.isPrimitive() || found.isRepetition(Type.Repetition.REPEATED))) {
      throw new IllegalStateException(file + ": column " + found.getName() + " is not a single value per row");
    }
    return found;
  }

  /**
   * The values are read from the column readers; the record converters they ask for do nothing.
   * It stands for every group on a column's path and for the column's own converter.
   */
  static final GroupConverter IGNORED = new GroupConverter() {
    private final PrimitiveConverter primitive = new PrimitiveConverter() {
      @Override
      public void addBinary(Binary value) {}
    };

    @Override
    public Converter getConverter(int fieldIndex) {
      return this;
    }

    @Override
    public PrimitiveConverter asPrimitiveConverter() {
      return primitive;
    }

    @Override
    public void start() {}

    @Override
    public void end() {}
  };
}
