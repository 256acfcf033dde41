package dev.joule.jobs.delta;

import io.delta.kernel.Snapshot;
import io.delta.kernel.TableManager;
import io.delta.kernel.data.MapValue;
import io.delta.kernel.engine.Engine;
import io.delta.kernel.internal.InternalScanFileUtils;
import io.delta.kernel.internal.SnapshotImpl;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.delta.actions.AddFile;
import org.apache.spark.sql.delta.actions.DeletionVectorDescriptor;
import org.apache.spark.sql.delta.actions.DeletionVectorDescriptor$;
import scala.jdk.javaapi.CollectionConverters;

/**
 * A Delta table's live files at one version as Delta's own {@link AddFile} actions, listed by
 * Delta Kernel on the driver. Delta's {@code snapshot.allFiles()} computes them with two Spark
 * jobs (the log's state, then a collect), whose planning was most of a small commit's cost; the
 * actions built here go into a Delta transaction at that same version, to be removed or given a
 * deletion vector.
 *
 * <p>Every field of the log's {@code add} action that Kernel reads is carried over, and
 * {@code dataChange} is false, as in Delta's snapshot; a deletion
 * vector keeps its identity (storage type, path, offset: what a remove is matched by) but not its
 * optional {@code maxRowIndex}, which Kernel does not read. Tables Kernel may list differently
 * are refused (null): a Delta log store configured, coordinated commits, clustering (whose
 * provider Kernel does not read), absolute paths in the log (which Delta's snapshot rewrites into
 * a canonical form), or anything Kernel cannot read.
 */
final class DriverFileList {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(DriverFileList.class);

  /** A URI scheme: {@code file:}, {@code s3a:}, ... (a relative path's colon is escaped). */
  private static final java.util.regex.Pattern ABSOLUTE = java.util.regex.Pattern.compile("[A-Za-z][A-Za-z0-9+.-]*:");

  private DriverFileList() {}

  /**
   * The live files of {@code path} at {@code version}, or null where the caller must ask Delta's
   * snapshot (logged with the reason).
   *
   * @param path a qualified path ({@link DeltaIO#qualified})
   */
  static List<AddFile> at(SparkSession spark, Engine engine, String path, long version) {
    String logStore = DriverPlannedScan.logStoreConfigured(spark);
    if (logStore != null) {
      LOG.debug("{}: {}; files listed by Delta", path, logStore);
      return null;
    }
    try {
      return list(engine, path, version);
    } catch (RuntimeException e) {
      LOG.info("{}: files not listed on the driver ({}); listed by Delta", path, e.toString());
      return null;
    }
  }

  /**
   * The live files at the transaction's version: listed by Delta Kernel on the driver, else (where
   * {@link #at} refuses, or there is no engine) by Delta's snapshot, in two Spark jobs.
   */
  static List<AddFile> live(SparkSession spark, Engine engine, org.apache.spark.sql.delta.OptimisticTransaction txn) {
    List<AddFile> listed = engine == null ? null
        : at(spark, engine, txn.deltaLog().dataPath().toString(), txn.readVersion());
    return listed != null ? listed : txn.snapshot().allFiles().collectAsList();
  }

  /**
   * The live files of {@code path} at {@code version}, listed by Delta Kernel with no Spark session.
   * Unlike {@link #at}, it does not look for a configured Delta log store (a session's setting).
   *
   * @throws IllegalStateException where Kernel may list them differently from Delta (coordinated
   *     commits, clustering, absolute paths, a protocol Kernel does not read)
   */
  static List<AddFile> list(Engine engine, String path, long version) {
    Snapshot snapshot = TableManager.loadSnapshot(path).atVersion(version).build(engine);
    if (!(snapshot instanceof SnapshotImpl impl)) {
      throw new IllegalStateException("an unknown snapshot type");
    }
    String unseen = DriverPlannedScan.unseenCommits(impl.getProtocol());
    if (unseen != null) {
      throw new IllegalStateException(unseen);
    }
    if (impl.getProtocol().getWriterFeatures().stream().anyMatch(f -> f.startsWith("clustering"))) {
      throw new IllegalStateException("clustering (its provider, in each file's action, Kernel does not read)");
    }
    List<AddFile> out = new ArrayList<>();
    KernelScanFiles.forEach(engine, snapshot.getScanBuilder().build(), true, path, file -> {
      AddFile f = addFile(file);
      // Delta's snapshot rewrites absolute paths into a canonical form (a clone's, a converted
      // table's); Kernel gives the log's string. Only relative paths are the same.
      if (f.path().startsWith("/") || ABSOLUTE.matcher(f.path()).lookingAt()) {
        throw new IllegalStateException("an absolute path in the log: " + f.path());
      }
      return out.add(f);
    });
    return out;
  }

  /** A scan file of Kernel's ({@code getScanFiles(engine, true)}) as Delta's action. */
  static AddFile addFile(io.delta.kernel.data.Row scanFile) {
    io.delta.kernel.data.Row add = scanFile.getStruct(InternalScanFileUtils.ADD_FILE_ORDINAL);
    var schema = add.getSchema();
    io.delta.kernel.internal.actions.DeletionVectorDescriptor dv =
        InternalScanFileUtils.getDeletionVectorDescriptorFromRow(scanFile);
    DeletionVectorDescriptor sparkDv = dv == null ? null : DeletionVectorDescriptor$.MODULE$.apply(dv.getStorageType(),
        dv.getPathOrInlineDv(), option(dv.getOffset().map(o -> (Object) o)), dv.getSizeInBytes(), dv.getCardinality(),
        scala.Option.empty());
    int stats = schema.indexOf("stats");
    int tags = schema.indexOf("tags");
    return new AddFile(add.getString(schema.indexOf("path")),
        map(add.getMap(schema.indexOf("partitionValues"))),
        add.getLong(schema.indexOf("size")),
        add.getLong(schema.indexOf("modificationTime")),
        false, // a snapshot's files are state, not changes: Delta's snapshot gives them so
        stats < 0 || add.isNullAt(stats) ? null : add.getString(stats),
        tags < 0 || add.isNullAt(tags) ? null : map(add.getMap(tags)),
        sparkDv,
        option(InternalScanFileUtils.getBaseRowId(scanFile).map(v -> (Object) v)),
        option(InternalScanFileUtils.getDefaultRowCommitVersion(scanFile).map(v -> (Object) v)),
        scala.Option.empty());
  }

  private static scala.collection.immutable.Map<String, String> map(MapValue m) {
    java.util.Map<String, String> out = new java.util.LinkedHashMap<>();
    for (int i = 0; i < m.getSize(); i++) {
      out.put(m.getKeys().getString(i), m.getValues().isNullAt(i) ? null : m.getValues().getString(i));
    }
    return scala.collection.immutable.Map$.MODULE$.from(CollectionConverters.asScala(out));
  }

  private static scala.Option<Object> option(Optional<Object> v) {
    return v.isPresent() ? scala.Option.apply(v.get()) : scala.Option.empty();
  }
}
