package dev.joule.jobs.delta;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.delta.DeltaLog;
import org.apache.spark.sql.delta.DeltaOperations;
import org.apache.spark.sql.delta.OptimisticTransaction;
import org.apache.spark.sql.delta.actions.Action;
import org.apache.spark.sql.delta.actions.AddFile;
import org.apache.spark.sql.delta.actions.Metadata;
import org.apache.spark.sql.delta.actions.RemoveFile;

/**
 * Undoes one commit a run made, and nothing else: a new commit that removes the files that commit
 * added and adds back the files it removed, exactly as they were. It runs in a Delta transaction
 * that reads the whole table, so a concurrent writer makes it retry, never lose their commit.
 *
 * <p>If a later commit already removed or replaced any file the run added (another run replaced
 * the same rows), there is nothing of this run's left to undo, and putting back what it removed
 * would bring back stale rows: then nothing is done. Table metadata the commit set (properties,
 * schema) is put back too, unless a later commit changed it again. A table the run created (its commit is
 * version 0) whose folder holds nothing else is deleted whole; otherwise it stays, empty of the
 * run's rows. This is Delta's own conflict model used in reverse, never a RESTORE.
 *
 * <p>Uses Delta's transaction API (Delta 4.3.1, pinned), as {@link DeltaIO} does.
 */
public final class CommitUndo {

  private CommitUndo() {}

  /** What an undo did. */
  public enum Outcome {
    UNDONE("its commit was undone"),
    TABLE_REMOVED("the table it had created was removed"),
    SUPERSEDED("a later commit had already replaced its rows: nothing to undo"),
    NOTHING("its commit changed no files");

    private final String text;

    Outcome(String text) {
      this.text = text;
    }

    public String describe() {
      return text;
    }
  }

  private static final int ATTEMPTS = 5;

  public static Outcome undo(SparkSession spark, String path, long version, String runId) {
    DeltaLog log = DeltaLog.forTable(spark, path);
    List<AddFile> added = new ArrayList<>();
    List<RemoveFile> removed = new ArrayList<>();
    Metadata changed = null; // the table metadata (properties, schema) the commit set, if any
    var it = log.getChanges(version, version, scala.Option.empty(), true);
    while (it.hasNext()) {
      for (Action a : scala.jdk.javaapi.CollectionConverters.asJava(it.next()._2())) {
        if (a instanceof AddFile f) {
          added.add(f);
        } else if (a instanceof RemoveFile f) {
          removed.add(f);
        } else if (a instanceof Metadata m) {
          changed = m;
        }
      }
    }
    // Metadata is put back only where this commit changed it and no later commit did (and not
    // for a table's first commit, which has no earlier metadata).
    Metadata earlier = changed != null && version > 0
        ? log.getSnapshotAt(version - 1, scala.Option.empty(), scala.Option.empty(), false).metadata() : null;
    if (added.isEmpty() && removed.isEmpty() && earlier == null) {
      return Outcome.NOTHING;
    }
    java.util.ConcurrentModificationException last = null;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
      OptimisticTransaction txn = log.startTransaction();
      // Reading every file marks the whole table read: any concurrent commit fails ours.
      Map<String, AddFile> live = new HashMap<>();
      for (AddFile f : scala.jdk.javaapi.CollectionConverters.asJava(txn.filterFiles())) {
        live.put(key(f.path(), f.deletionVector()), f);
      }
      for (AddFile f : added) {
        if (!live.containsKey(key(f.path(), f.deletionVector()))) {
          return Outcome.SUPERSEDED;
        }
      }
      if (version == 0 && txn.readVersion() == 0 && onlyFiles(spark, path, added)) {
        deleteTable(spark, path);
        return Outcome.TABLE_REMOVED;
      }
      if (earlier != null) {
        // E.g. a codes table's dimension scales: its old rows must come back with their own. If a
        // later commit changed the properties or schema again, the files stay too: old rows
        // under another run's properties could be read wrongly (a codes table's scales).
        if (!sameTableSettings(txn.metadata(), changed)) {
          return Outcome.SUPERSEDED;
        }
        txn.updateMetadata(earlier, false);
      }
      List<Action> actions = new ArrayList<>();
      long now = System.currentTimeMillis();
      for (AddFile f : added) {
        actions.add(f.removeWithTimestamp(now, true));
      }
      actions.addAll(putBack(log, version, removed));
      try {
        String tag = CommitTag.undo(runId, version);
        CommitTag.withSessionTag(spark, tag, () -> txn.commit(
            scala.jdk.javaapi.CollectionConverters.asScala(actions).toList(), DeltaOperations.ManualUpdate$.MODULE$));
        return Outcome.UNDONE;
      } catch (java.util.ConcurrentModificationException e) {
        last = e; // another writer committed meanwhile: look again
      }
    }
    throw new IllegalStateException("could not undo version " + version + " of " + path + " after " + ATTEMPTS
        + " attempts: other writers kept committing", last);
  }

  /** Whether two metadata actions set the same properties and schema (ids and times aside). */
  private static boolean sameTableSettings(Metadata a, Metadata b) {
    return a.configuration().equals(b.configuration()) && a.schemaString().equals(b.schemaString())
        && a.partitionColumns().equals(b.partitionColumns());
  }

  /** The files a commit removed, as they were in the version before it (stats and deletion vectors included). */
  private static List<AddFile> putBack(DeltaLog log, long version, List<RemoveFile> removed) {
    if (removed.isEmpty()) {
      return List.of();
    }
    Set<String> keys = new HashSet<>();
    Set<String> paths = new HashSet<>();
    for (RemoveFile r : removed) {
      keys.add(key(r.path(), r.deletionVector()));
      paths.add(r.path());
    }
    var before = log.getSnapshotAt(version - 1, scala.Option.empty(), scala.Option.empty(), false);
    List<AddFile> back = new ArrayList<>();
    for (AddFile f : before.allFiles()
        .filter(org.apache.spark.sql.functions.col("path").isin(paths.toArray())).collectAsList()) {
      if (keys.contains(key(f.path(), f.deletionVector()))) {
        back.add(f.copy(f.path(), f.partitionValues(), f.size(), f.modificationTime(), true, f.stats(), f.tags(),
            f.deletionVector(), f.baseRowId(), f.defaultRowCommitVersion(), f.clusteringProvider()));
      }
    }
    if (back.size() != keys.size()) {
      throw new IllegalStateException("version " + (version - 1) + " of " + log.dataPath() + " no longer lists "
          + (keys.size() - back.size()) + " of the files version " + version + " removed");
    }
    return back;
  }

  private static String key(String path, org.apache.spark.sql.delta.actions.DeletionVectorDescriptor dv) {
    return path + "#" + (dv == null ? "" : dv.uniqueId());
  }

  /** Whether the table's folder holds nothing but its log and these files. */
  private static boolean onlyFiles(SparkSession spark, String path, List<AddFile> files) {
    try {
      Path root = new Path(path);
      FileSystem fs = root.getFileSystem(spark.sparkContext().hadoopConfiguration());
      Set<String> ours = new HashSet<>();
      for (AddFile f : files) {
        ours.add(new Path(f.path()).getName());
      }
      for (FileStatus s : fs.listStatus(root)) {
        String name = s.getPath().getName();
        boolean crc = name.startsWith(".") && name.endsWith(".crc") && ours.contains(name.substring(1, name.length() - 4));
        if (!name.equals("_delta_log") && !ours.contains(name) && !crc
            && !(name.equals(dev.joule.udfs.files.KeyIndex.DIR) && onlyIndexesOf(fs, s.getPath(), ours))) {
          return false;
        }
      }
      return true;
    } catch (java.io.IOException e) {
      return false;
    }
  }

  /** Whether a key index folder holds only the indexes of {@code ours} ({@code KeyIndex}). */
  private static boolean onlyIndexesOf(FileSystem fs, Path dir, Set<String> ours) throws java.io.IOException {
    for (FileStatus s : fs.listStatus(dir)) {
      String data = dev.joule.udfs.files.KeyIndex.dataFileOf(s.getPath().getName());
      if (data == null || !ours.contains(data)) {
        return false;
      }
    }
    return true;
  }

  private static void deleteTable(SparkSession spark, String path) {
    try {
      Path root = new Path(path);
      root.getFileSystem(spark.sparkContext().hadoopConfiguration()).delete(root, true);
      DeltaLog.clearCache();
    } catch (java.io.IOException e) {
      throw new IllegalStateException("could not remove " + path + ": " + e.getMessage(), e);
    }
  }
}
