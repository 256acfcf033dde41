package dev.joule.jobs.delta;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.delta.DeltaLog;
import org.apache.spark.sql.delta.actions.AddFile;
import org.apache.spark.sql.delta.actions.DeletionVectorDescriptor;
import org.junit.jupiter.api.Test;

/** Kernel's file list, as Delta's actions, is Delta's own snapshot's list. */
class DriverFileListIT extends dev.joule.jobs.LocalSparkIT {

  /**
   * Partitions, statistics, deletion vectors (one file marked twice), row tracking's ids, tags
   * (another writer's), a checkpoint: every version's files are the same actions as Delta's.
   */
  @Test
  void theSameActionsAsDeltasSnapshotAtEveryVersion() {
    String path = DeltaIO.qualified(spark, tmp.resolve("files").toString());
    spark.sql("CREATE TABLE delta.`" + path + "` (id BIGINT, part STRING, v DOUBLE) USING delta PARTITIONED BY (part) "
        + "TBLPROPERTIES ('delta.enableDeletionVectors' = 'true', 'delta.enableRowTracking' = 'true')");
    spark.sql("INSERT INTO delta.`" + path + "` SELECT id, IF(id % 2 = 0, 'a', 'b=c d'), id / 3.0 FROM range(0, 4000)");
    spark.sql("INSERT INTO delta.`" + path + "` SELECT id, 'a', -id FROM range(4000, 5000)");
    spark.sql("DELETE FROM delta.`" + path + "` WHERE id % 7 = 0");
    DeltaLog.forTable(spark, path).checkpoint();
    spark.sql("DELETE FROM delta.`" + path + "` WHERE id % 11 = 0");
    spark.sql("OPTIMIZE delta.`" + path + "` WHERE part = 'b=c d' ZORDER BY (v)");
    spark.sql("INSERT INTO delta.`" + path + "` SELECT id, 'b=c d', id FROM range(5000, 5100)");
    // A file given tags (another writer's, say): the same file added again with them.
    var txn = DeltaLog.forTable(spark, path).startTransaction();
    AddFile t = txn.snapshot().allFiles().head();
    AddFile tagged = new AddFile(t.path(), t.partitionValues(), t.size(), t.modificationTime(), false, t.stats(),
        scala.collection.immutable.Map$.MODULE$.from(scala.jdk.javaapi.CollectionConverters.asScala(
            java.util.Map.of("written-by", "another writer"))), t.deletionVector(), t.baseRowId(),
        t.defaultRowCommitVersion(), t.clusteringProvider());
    txn.commit(scala.jdk.javaapi.CollectionConverters.asScala(List.<org.apache.spark.sql.delta.actions.Action>of(
        tagged)).toList(), org.apache.spark.sql.delta.DeltaOperations.ManualUpdate$.MODULE$);
    long latest = DeltaIO.latestVersion(spark, path);
    boolean sawDv = false;
    boolean sawTags = false;
    for (long version = 1; version <= latest; version++) {
      List<AddFile> ours = DriverFileList.at(spark, DriverTableReader.engine(spark), path, version);
      Set<AddFile> delta = new HashSet<>();
      for (AddFile f : DeltaLog.forTable(spark, path).getSnapshotAt(version, scala.Option.empty(),
          scala.Option.empty(), false).allFiles().collectAsList()) {
        delta.add(withoutMaxRowIndex(f));
        sawDv |= f.deletionVector() != null;
        sawTags |= f.tags() != null && !f.tags().isEmpty();
      }
      assertEquals(delta.size(), ours.size(), "version " + version);
      assertEquals(delta, new HashSet<>(ours), "version " + version);
    }
    assertTrue(sawDv, "files with deletion vectors");
    assertTrue(sawTags, "files with tags");
  }

  /** A log that names a file by its absolute path is left to Delta, which rewrites such paths. */
  @Test
  void aLogWithAnAbsolutePathIsLeftToDelta() {
    String path = DeltaIO.qualified(spark, tmp.resolve("absolute").toString());
    spark.range(0, 100).write().format("delta").save(path);
    assertTrue(DriverFileList.at(spark, DriverTableReader.engine(spark), path, 0) != null, "relative paths: listed");
    var txn = DeltaLog.forTable(spark, path).startTransaction();
    AddFile f = txn.snapshot().allFiles().head();
    AddFile absolute = new AddFile(path + "/" + f.path(), f.partitionValues(), f.size(), f.modificationTime(), false,
        f.stats(), f.tags(), f.deletionVector(), f.baseRowId(), f.defaultRowCommitVersion(), f.clusteringProvider());
    txn.commit(scala.jdk.javaapi.CollectionConverters.asScala(List.<org.apache.spark.sql.delta.actions.Action>of(
        f.removeWithTimestamp(System.currentTimeMillis(), false), absolute)).toList(),
        org.apache.spark.sql.delta.DeltaOperations.ManualUpdate$.MODULE$);
    assertEquals(null, DriverFileList.at(spark, DriverTableReader.engine(spark), path, 1));
  }

  /** Delta's action with its deletion vector's optional maxRowIndex left out, as Kernel reads it. */
  private static AddFile withoutMaxRowIndex(AddFile f) {
    DeletionVectorDescriptor dv = f.deletionVector();
    DeletionVectorDescriptor plain = dv == null ? null : org.apache.spark.sql.delta.actions.DeletionVectorDescriptor$
        .MODULE$.apply(dv.storageType(), dv.pathOrInlineDv(), dv.offset(), dv.sizeInBytes(), dv.cardinality(),
            scala.Option.empty());
    return new AddFile(f.path(), f.partitionValues(), f.size(), f.modificationTime(), f.dataChange(), f.stats(),
        f.tags(), plain, f.baseRowId(), f.defaultRowCommitVersion(), f.clusteringProvider());
  }
}
