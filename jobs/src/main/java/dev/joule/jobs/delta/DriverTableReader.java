package dev.joule.jobs.delta;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.delta.kernel.Scan;
import io.delta.kernel.Snapshot;
import io.delta.kernel.TableManager;
import io.delta.kernel.data.ColumnVector;
import io.delta.kernel.data.ColumnarBatch;
import io.delta.kernel.data.FilteredColumnarBatch;
import io.delta.kernel.engine.Engine;
import io.delta.kernel.engine.FileReadResult;
import io.delta.kernel.internal.InternalScanFileUtils;
import io.delta.kernel.internal.actions.DeletionVectorDescriptor;
import io.delta.kernel.internal.data.ScanStateRow;
import io.delta.kernel.types.StructField;
import io.delta.kernel.utils.CloseableIterator;
import io.delta.kernel.utils.FileStatus;
import java.io.IOException;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Reads on the driver, with Delta Kernel, what a job needs of a table's log and of its small
 * tables: a table's row count from its files' statistics, and the rows of a small table of flat
 * columns and float arrays (the runs table, the quality gate's kept sample). No Spark job runs:
 * each costs a small run more than its rows do.
 * The {@link Engine} (Kernel's file system, Parquet and JSON handlers) is passed in, one per job.
 */
public final class DriverTableReader {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(DriverTableReader.class);

  private final Engine engine;
  /** The Hadoop configuration a plain table's Parquet files are read with; null: Kernel reads them. */
  private final org.apache.hadoop.conf.Configuration conf;

  public DriverTableReader(Engine engine) {
    this(engine, null);
  }

  /** @param conf where not null, plain tables' files are read with it ({@link DriverParquetRows}) */
  public DriverTableReader(Engine engine, org.apache.hadoop.conf.Configuration conf) {
    this.engine = engine;
    this.conf = conf;
  }

  /** The engine this reader reads with: a job passes it on to its other driver reads of the log. */
  public Engine engine() {
    return engine;
  }

  /** The default engine over the session's Hadoop configuration (its file systems, credentials). */
  public static DriverTableReader of(org.apache.spark.sql.SparkSession spark) {
    org.apache.hadoop.conf.Configuration c = spark.sessionState().newHadoopConf();
    return new DriverTableReader(io.delta.kernel.defaults.engine.DefaultEngine.create(c), c);
  }

  /** Kernel's default engine over the session's Hadoop configuration (its file systems, credentials). */
  public static Engine engine(org.apache.spark.sql.SparkSession spark) {
    return io.delta.kernel.defaults.engine.DefaultEngine.create(spark.sessionState().newHadoopConf());
  }

  /**
   * The rows of {@code path} at {@code version}, from each live file's {@code numRecords}
   * statistic less its deletion vector's cardinality; empty when a file has no such statistic
   * (the caller then counts with a scan), or when Kernel cannot read the log (a table feature it
   * does not support, say), which is logged.
   *
   * @param path a qualified path ({@link DeltaIO#qualified})
   */
  public OptionalLong rowCount(String path, long version) {
    try {
      return count(path, version);
    } catch (RuntimeException e) {
      LOG.info("{}: rows not counted from the log ({}); counting with a scan", path, e.toString());
      return OptionalLong.empty();
    }
  }

  private OptionalLong count(String path, long version) {
    Snapshot snapshot = TableManager.loadSnapshot(path).atVersion(version).build(engine);
    long[] rows = {0};
    boolean counted = KernelScanFiles.forEach(engine, snapshot.getScanBuilder().build(), true, path, file -> {
      long n = liveRows(file);
      rows[0] += n;
      return n >= 0;
    });
    return counted ? OptionalLong.of(rows[0]) : OptionalLong.empty();
  }

  /**
   * The live rows of a scan file (one of {@code ScanImpl.getScanFiles(engine, true)}'s): its
   * {@code numRecords} statistic less its deletion vector's cardinality; -1 without the statistic.
   */
  static long liveRows(io.delta.kernel.data.Row file) throws IOException {
    io.delta.kernel.data.Row add = file.getStruct(InternalScanFileUtils.ADD_FILE_ORDINAL);
    int statsField = add.getSchema().indexOf("stats");
    if (statsField < 0 || add.isNullAt(statsField)) {
      return -1;
    }
    JsonNode n = JSON.readTree(add.getString(statsField)).get("numRecords");
    if (n == null || !n.canConvertToLong()) {
      return -1;
    }
    DeletionVectorDescriptor dv = InternalScanFileUtils.getDeletionVectorDescriptorFromRow(file);
    return n.asLong() - (dv == null ? 0 : dv.getCardinality());
  }

  /**
   * Every row of a small table of flat columns (strings, numbers, booleans, timestamps) and float
   * arrays at {@code version}, deletion vectors applied, as Spark rows with the table's column
   * names (an array as a Scala sequence, as Spark's rows hold it). Null when a column has another
   * type or Kernel cannot read the table (logged): the caller reads the table with Spark.
   *
   * @param path a qualified path ({@link DeltaIO#qualified})
   */
  public List<Row> rows(String path, long version) {
    return rows(path, OptionalLong.of(version));
  }

  /** As {@link #rows(String, long)}, at the version given, else the latest. */
  public List<Row> rows(String path, OptionalLong version) {
    try {
      return read(path, version);
    } catch (RuntimeException e) {
      LOG.info("{}: not read on the driver ({}); reading it with Spark", path, e.toString());
      return null;
    }
  }

  private List<Row> read(String path, OptionalLong version) {
    var builder = TableManager.loadSnapshot(path);
    Snapshot snapshot = (version.isPresent() ? builder.atVersion(version.getAsLong()) : builder).build(engine);
    io.delta.kernel.types.StructType kernelSchema = snapshot.getSchema();
    StructType fields = new StructType();
    for (StructField f : kernelSchema.fields()) {
      DataType t = sparkType(f.getDataType());
      if (t == null) {
        return null;
      }
      fields = fields.add(f.getName(), t, true);
    }
    StructType schema = fields;
    Scan scan = snapshot.getScanBuilder().build();
    io.delta.kernel.data.Row scanState = scan.getScanState(engine);
    io.delta.kernel.types.StructType physical = ScanStateRow.getPhysicalDataReadSchema(scanState);
    List<Row> out = new ArrayList<>();
    boolean plain = conf != null && DriverParquetRows.reads(schema) && snapshot.getPartitionColumnNames().isEmpty()
        && snapshot instanceof io.delta.kernel.internal.SnapshotImpl impl
        && "none".equals(impl.getMetadata().getConfiguration().getOrDefault("delta.columnMapping.mode", "none"));
    KernelScanFiles.forEach(engine, scan, false, path, file -> {
      FileStatus status = InternalScanFileUtils.getAddFileStatus(file);
      if (plain && InternalScanFileUtils.getDeletionVectorDescriptorFromRow(file) == null) {
        try {
          for (Object[] v : DriverParquetRows.read(conf, new org.apache.hadoop.fs.Path(status.getPath()), schema)) {
            out.add(new GenericRowWithSchema(v, schema));
          }
          return true;
        } catch (RuntimeException e) { // a layout not read there, or a read that failed: Kernel reads the file
          LOG.debug("{}: read by Kernel ({})", status.getPath(), e.toString());
        }
      }
      CloseableIterator<ColumnarBatch> data = engine.getParquetHandler()
          .readParquetFiles(single(status), physical, Optional.empty()).map(FileReadResult::getData);
      try (CloseableIterator<FilteredColumnarBatch> logical = Scan.transformPhysicalData(engine, scanState, file,
          data)) {
        while (logical.hasNext()) {
          addRows(logical.next(), schema, out);
        }
      }
      return true;
    });
    return out;
  }

  private static void addRows(FilteredColumnarBatch batch, StructType schema, List<Row> out) {
    ColumnarBatch b = batch.getData();
    Optional<ColumnVector> selected = batch.getSelectionVector();
    int columns = schema.size();
    for (int r = 0; r < b.getSize(); r++) {
      if (selected.isPresent() && (selected.get().isNullAt(r) || !selected.get().getBoolean(r))) {
        continue; // deleted (a deletion vector marks it)
      }
      Object[] v = new Object[columns];
      for (int c = 0; c < columns; c++) {
        v[c] = value(b.getColumnVector(c), r, schema.fields()[c].dataType());
      }
      out.add(new GenericRowWithSchema(v, schema));
    }
  }

  private static Object value(ColumnVector v, int r, DataType t) {
    if (v.isNullAt(r)) {
      return null;
    }
    if (t instanceof org.apache.spark.sql.types.ArrayType) { // of floats (sparkType)
      io.delta.kernel.data.ArrayValue a = v.getArray(r);
      ColumnVector e = a.getElements();
      float[] values = new float[a.getSize()];
      boolean nulls = false;
      for (int i = 0; i < values.length; i++) {
        nulls |= e.isNullAt(i);
        values[i] = nulls ? 0f : e.getFloat(i);
      }
      if (!nulls) { // unboxed: a sample of 11,000 rows of 768 floats is 34 MB, not 170
        return scala.collection.immutable.ArraySeq.unsafeWrapArray(values);
      }
      Object[] boxed = new Object[values.length];
      for (int i = 0; i < boxed.length; i++) {
        boxed[i] = e.isNullAt(i) ? null : e.getFloat(i);
      }
      return scala.collection.immutable.ArraySeq.unsafeWrapArray(boxed);
    }
    if (t == DataTypes.StringType) {
      return v.getString(r);
    } else if (t == DataTypes.LongType) {
      return v.getLong(r);
    } else if (t == DataTypes.IntegerType) {
      return v.getInt(r);
    } else if (t == DataTypes.DoubleType) {
      return v.getDouble(r);
    } else if (t == DataTypes.FloatType) {
      return v.getFloat(r);
    } else if (t == DataTypes.BooleanType) {
      return v.getBoolean(r);
    }
    long micros = v.getLong(r); // a timestamp
    Timestamp ts = new Timestamp(Math.floorDiv(micros, 1000));
    ts.setNanos((int) Math.floorMod(micros, 1_000_000) * 1000);
    return ts;
  }

  /** The flat Kernel types this reader takes, and their Spark types ({@link #value} reads each). */
  private static final java.util.Map<io.delta.kernel.types.DataType, DataType> FLAT_TYPES = java.util.Map.of(
      io.delta.kernel.types.StringType.STRING, DataTypes.StringType,
      io.delta.kernel.types.LongType.LONG, DataTypes.LongType,
      io.delta.kernel.types.IntegerType.INTEGER, DataTypes.IntegerType,
      io.delta.kernel.types.DoubleType.DOUBLE, DataTypes.DoubleType,
      io.delta.kernel.types.FloatType.FLOAT, DataTypes.FloatType,
      io.delta.kernel.types.BooleanType.BOOLEAN, DataTypes.BooleanType,
      io.delta.kernel.types.TimestampType.TIMESTAMP, DataTypes.TimestampType);

  /**
   * The Spark type of a flat Kernel type or an array of floats, or null for any other (the table
   * is then left to Spark).
   */
  private static DataType sparkType(io.delta.kernel.types.DataType t) {
    if (t instanceof io.delta.kernel.types.ArrayType a
        && a.getElementType().equals(io.delta.kernel.types.FloatType.FLOAT)) {
      return DataTypes.createArrayType(DataTypes.FloatType, a.containsNull());
    }
    return FLAT_TYPES.get(t);
  }

  private static CloseableIterator<FileStatus> single(FileStatus f) {
    return io.delta.kernel.internal.util.Utils.singletonCloseableIterator(f);
  }
}
