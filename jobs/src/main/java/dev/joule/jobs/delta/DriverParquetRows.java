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
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

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
    var options = HadoopReadOptions.builder(conf).withRecordFilter(FilterCompat.NOOP).useRecordFilter(false)
        .useStatsFilter(false).useDictionaryFilter(false).useColumnIndexFilter(false).useBloomFilter(false).build();
    try (ParquetFileReader reader = ParquetFileReader.open(HadoopInputFile.fromPath(file, conf), options)) {
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

  /** The encodings of {@code column}'s chunk in the row group {@code block}. */
  private static java.util.Set<org.apache.parquet.column.Encoding> encodings(BlockMetaData block,
      ColumnDescriptor column) {
    org.apache.parquet.hadoop.metadata.ColumnPath path =
        org.apache.parquet.hadoop.metadata.ColumnPath.get(column.getPath());
    for (ColumnChunkMetaData chunk : block.getColumns()) {
      if (chunk.getPath().equals(path)) {
        return chunk.getEncodings();
      }
    }
    return java.util.Set.of(org.apache.parquet.column.Encoding.BYTE_STREAM_SPLIT); // not found: read per value
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
