package dev.joule.jobs.delta;

import io.delta.kernel.Snapshot;
import io.delta.kernel.TableManager;
import io.delta.kernel.engine.Engine;
import io.delta.kernel.internal.InternalScanFileUtils;
import io.delta.kernel.internal.SnapshotImpl;
import io.delta.kernel.internal.actions.Metadata;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.delta.DeltaTableUtils;
import org.apache.spark.sql.delta.schema.SchemaUtils;
import org.apache.spark.sql.execution.datasources.FileIndex;
import org.apache.spark.sql.execution.datasources.HadoopFsRelation;
import org.apache.spark.sql.execution.datasources.PartitionDirectory;
import org.apache.spark.sql.execution.datasources.parquet.ParquetFileFormat;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

/**
 * A Delta table at one version as a Spark {@link Dataset} whose data files Delta Kernel lists on
 * the driver. The files are read by Spark's own Parquet reader (columnar, as Delta's reader reads
 * them), and no Spark job lists them first: Spark's Delta reader computes a snapshot's files with
 * four jobs of its own, whose planning and compilation were most of a small run's fixed cost.
 *
 * <p>Only tables that a plain Parquet read gives exactly are planned here; the others are left to
 * Spark's Delta reader, with the reason: a file with a deletion vector, column mapping, partition
 * columns, a reader feature not in {@link #PLAIN_READER_FEATURES}, coordinated commits or a
 * configured log store (whose commits Kernel's default engine may not see), a version other than
 * the latest (Spark's reader enforces the deleted-file retention on time travel), or anything
 * Kernel cannot read.
 */
public final class DriverPlannedScan {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(DriverPlannedScan.class);

  /**
   * Reader features under which a table's live files, read as Parquet with the table's schema,
   * are its rows: deletion vectors only while no file has one; column mapping only in mode none.
   */
  static final Set<String> PLAIN_READER_FEATURES =
      Set.of("deletionVectors", "timestampNtz", "v2Checkpoint", "vacuumProtocolCheck", "columnMapping");

  /**
   * The plan, or why there is none.
   *
   * @param version the table version planned
   * @param data the table's rows at {@code version}; null when Spark's Delta reader must read it
   * @param leftToSpark why it is left to Spark's Delta reader, else null
   * @param rows the table's rows by its files' statistics; empty when a file has none, or when
   *     the table is left to Spark
   */
  public record Plan(long version, Dataset<Row> data, String leftToSpark, OptionalLong rows) {

    static Plan leftToSpark(String why) {
      return new Plan(-1, null, why, OptionalLong.empty());
    }
  }

  private DriverPlannedScan() {}

  /**
   * Plans the latest version of {@code path}; a {@code version} given that is not the latest is
   * left to Spark. Never throws: whatever Kernel cannot do is a reason to leave the table to
   * Spark's Delta reader.
   */
  public static Plan of(SparkSession spark, Engine engine, String path, OptionalLong version) {
    try {
      return plan(spark, engine, DeltaIO.qualified(spark, path), version);
    } catch (RuntimeException e) {
      LOG.debug("{}: files not listed on the driver", path, e);
      return Plan.leftToSpark("Delta Kernel could not plan it: " + e);
    }
  }

  /**
   * The Delta log store this session configures (Kernel's default engine ignores it, and may not
   * read the log as Spark's Delta does), or null.
   */
  static String logStoreConfigured(SparkSession spark) {
    for (String key : CollectionConverters.asJava(spark.conf().getAll()).keySet()) {
      if (key.startsWith("spark.delta.logStore.")) {
        return "a Delta log store is configured (" + key + ")";
      }
    }
    return null;
  }

  /** A writer feature whose commits Kernel's default engine may not see, or null. */
  static String unseenCommits(io.delta.kernel.internal.actions.Protocol protocol) {
    for (String feature : protocol.getWriterFeatures()) {
      if (feature.startsWith("coordinatedCommits") || feature.startsWith("catalog")) {
        return "writer feature " + feature + " (commits Kernel's default engine may not see)";
      }
    }
    return null;
  }

  private static Plan plan(SparkSession spark, Engine engine, String path, OptionalLong version) {
    String logStore = logStoreConfigured(spark);
    if (logStore != null) {
      return Plan.leftToSpark(logStore);
    }
    Snapshot snapshot = TableManager.loadSnapshot(path).build(engine);
    if (version.isPresent() && version.getAsLong() != snapshot.getVersion()) {
      // Spark's Delta reader refuses versions older than the table's deleted-file retention
      // (their files may be vacuumed); Kernel does not check.
      return Plan.leftToSpark("an earlier version than the latest");
    }
    if (!(snapshot instanceof SnapshotImpl impl)) {
      return Plan.leftToSpark("an unknown snapshot type");
    }
    for (String feature : impl.getProtocol().getReaderFeatures()) {
      if (!PLAIN_READER_FEATURES.contains(feature)) {
        return Plan.leftToSpark("reader feature " + feature);
      }
    }
    String unseen = unseenCommits(impl.getProtocol());
    if (unseen != null) {
      return Plan.leftToSpark(unseen);
    }
    Metadata metadata = impl.getMetadata();
    String mapping = metadata.getConfiguration().getOrDefault("delta.columnMapping.mode", "none");
    if (!mapping.equals("none")) {
      return Plan.leftToSpark("column mapping mode " + mapping);
    }
    if (!metadata.getPartitionColNames().isEmpty()) {
      return Plan.leftToSpark("partition columns " + metadata.getPartitionColNames());
    }
    // The schema Spark's Delta reader gives: void columns dropped (at any depth), Delta's and
    // writers' internal field metadata (identity, generated columns, ...) removed.
    StructType schema = DeltaTableUtils.removeInternalDeltaMetadata(spark, DeltaTableUtils.removeInternalWriterMetadata(
        spark, SchemaUtils.dropNullTypeColumns((StructType) DataType.fromJson(metadata.getSchemaString()))));
    List<FileStatus> files = new ArrayList<>();
    long[] rows = {0};
    boolean noVectors = KernelScanFiles.forEach(engine, snapshot.getScanBuilder().build(), true, path, file -> {
      if (InternalScanFileUtils.getDeletionVectorDescriptorFromRow(file) != null) {
        return false;
      }
      long live = DriverTableReader.liveRows(file);
      rows[0] = rows[0] < 0 || live < 0 ? -1 : rows[0] + live;
      io.delta.kernel.utils.FileStatus f = InternalScanFileUtils.getAddFileStatus(file);
      // No block locations: Spark's scan splits by size alone, as it does for Delta's files.
      return files.add(new FileStatus(f.getSize(), false, 0, 1, f.getModificationTime(), new Path(f.getPath())));
    });
    if (!noVectors) {
      return Plan.leftToSpark("a file with a deletion vector");
    }
    HadoopFsRelation relation = new HadoopFsRelation(new Files(new Path(path), files), new StructType(), schema,
        scala.Option.empty(), new ParquetFileFormat(), scala.collection.immutable.Map$.MODULE$.empty(), spark);
    return new Plan(snapshot.getVersion(), spark.baseRelationToDataFrame(relation), null,
        rows[0] < 0 ? OptionalLong.empty() : OptionalLong.of(rows[0]));
  }

  /** A fixed list of files, as Kernel gave them: nothing is listed or refreshed. */
  private static final class Files implements FileIndex {
    private final Path root;
    private final FileStatus[] files;
    private final long bytes;

    Files(Path root, List<FileStatus> files) {
      this.root = root;
      this.files = files.toArray(new FileStatus[0]);
      this.bytes = files.stream().mapToLong(FileStatus::getLen).sum();
    }

    @Override
    public Seq<Path> rootPaths() {
      return CollectionConverters.asScala(List.of(root)).toList();
    }

    @Override
    public Seq<PartitionDirectory> listFiles(Seq<org.apache.spark.sql.catalyst.expressions.Expression> partitionFilters,
        Seq<org.apache.spark.sql.catalyst.expressions.Expression> dataFilters) {
      return CollectionConverters.asScala(List.of(PartitionDirectory.apply(new GenericInternalRow(0), files))).toList();
    }

    @Override
    public String[] inputFiles() {
      String[] names = new String[files.length];
      for (int i = 0; i < files.length; i++) {
        names[i] = files[i].getPath().toString();
      }
      return names;
    }

    @Override
    public void refresh() {}

    @Override
    public long sizeInBytes() {
      return bytes;
    }

    @Override
    public StructType partitionSchema() {
      return new StructType();
    }

    @Override
    public String toString() {
      return "DriverPlannedScan[" + root + ", " + files.length + " files]";
    }
  }
}
