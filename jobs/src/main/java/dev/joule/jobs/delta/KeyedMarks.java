package dev.joule.jobs.delta;

import dev.joule.udfs.files.KeyIndex;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.hadoop.fs.Path;
import org.apache.spark.paths.SparkPath;
import org.apache.spark.sql.delta.actions.Action;
import org.apache.spark.sql.delta.actions.AddFile;
import org.apache.spark.sql.delta.actions.DeletionVectorDescriptor$;
import org.apache.spark.sql.delta.actions.DeletionVectorDescriptor;
import org.apache.spark.sql.delta.deletionvectors.RoaringBitmapArray;
import org.apache.spark.sql.delta.deletionvectors.RoaringBitmapArrayFormat$;
import org.apache.spark.sql.delta.deletionvectors.StoredBitmap$;
import org.apache.spark.sql.delta.storage.dv.DeletionVectorStore$;
import org.apache.spark.sql.delta.storage.dv.DeletionVectorStore;
import org.apache.spark.sql.delta.util.DeltaFileOperations;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;

/**
 * The rows an upsert by key replaces, found and marked, with no Spark session: which live files
 * may hold them (by scope and key bounds), their positions (from the files' {@link KeyIndex}es,
 * else the driver's read of the key column, {@link DriverKeyScan}), and the actions that mark
 * them (deletion vectors written by Delta's own store, in one file; a file whose every row goes
 * is removed). Shared by the commit through a Delta Spark transaction ({@link KeyedUpsert}, which
 * may also scan keys with a Spark job) and the one through Delta Kernel ({@link KernelUpsert}).
 */
final class KeyedMarks {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(KeyedMarks.class);

  private KeyedMarks() {}

  /**
   * The live files that may hold rows in scope with one of the keys, by the path a Parquet scan
   * reports for them; those whose every row is in scope (a key index may serve them); how many a
   * key bound ruled out.
   */
  record Candidates(Map<String, AddFile> files, Set<String> wholeInScope, int skipped) {}

  /**
   * @param base the table's data path
   * @param sortedKeys the keys as sorted longs for an integer key column, else null (no bounds test)
   */
  static Candidates candidates(List<AddFile> live, String base, String keyColumn, long[] sortedKeys,
      Map<String, String> scope) {
    Map<String, AddFile> files = new HashMap<>();
    Set<String> wholeInScope = new HashSet<>();
    int skipped = 0;
    for (AddFile f : live) {
      FileCommit.Match inScope = FileCommit.match(f.stats(), scope);
      if (inScope == FileCommit.Match.NONE) {
        continue;
      }
      // A file whose key bounds hold none of the keys is not read (an id range of its own: the
      // files of an insert-only night, say).
      if (sortedKeys != null && !mayHoldAny(f.stats(), keyColumn, sortedKeys)) {
        skipped++;
        continue;
      }
      String name = SparkPath.fromPath(DeltaFileOperations.absolutePath(base, f.path())).urlEncoded();
      files.put(name, f);
      if (inScope == FileCommit.Match.ALL || scope.isEmpty()) { // (statistics-less files match SOME)
        wholeInScope.add(name);
      }
    }
    return new Candidates(files, wholeInScope, skipped);
  }

  /**
   * Positions found, per candidate file; the candidates not read here (the caller reads their
   * {@code scopeToRead} and key columns otherwise, or fails); and how, for the log.
   */
  record Found(Map<String, RoaringBitmapArray> marked, Map<String, AddFile> unread, Map<String, String> scopeToRead,
      List<String> how) {}

  /**
   * The candidates' positions of the keys' rows: from key indexes where a file has a matching one,
   * else from the driver's read of the key (and scope) columns, up to {@code driverScanRows} rows.
   */
  static Found find(org.apache.hadoop.conf.Configuration hadoopConf, Path dataPath, StructType table,
      Candidates candidates, String keyColumn, Set<Object> keys, long[] sortedKeys, Map<String, String> scope,
      long driverScanRows) {
    Map<String, RoaringBitmapArray> marked = new HashMap<>();
    List<String> how = new ArrayList<>(); // where the rows were found, for the log
    Map<String, AddFile> toScan = new HashMap<>(candidates.files());
    if (sortedKeys != null && !toScan.isEmpty()) {
      how.add(indexedPositions(hadoopConf, candidates.files(), candidates.wholeInScope(), dataPath, keyColumn,
          sortedKeys, marked, toScan));
    }
    boolean scopeRead = false;
    for (String name : toScan.keySet()) {
      scopeRead |= !candidates.wholeInScope().contains(name);
    }
    Map<String, String> scopeToRead = scopeRead ? scope : Map.of();
    if (!toScan.isEmpty() && readsOnDriver(table, toScan, keyColumn, scopeToRead, driverScanRows)) {
      double[] cpuMillis = {0};
      Map<String, RoaringBitmapArray> scanned = driverPositions(dataPath, hadoopConf, toScan, keyColumn, keys, sortedKeys, scopeToRead, cpuMillis);
      if (scanned != null) {
        // The bench's per-table term reads this line (NightlyTermsBench).
        how.add(String.format(java.util.Locale.ROOT, "key scan on the driver: %d rows, %.1f ms CPU",
            toScan.values().stream().mapToLong(f -> (Long) f.numPhysicalRecords().get()).sum(), cpuMillis[0]));
        marked.putAll(scanned);
        toScan.clear();
      }
    }
    return new Found(marked, toScan, scopeToRead, how);
  }

  /**
   * The actions that mark the rows, and what they do; the deletion-vector file written for them
   * (null where none was), which no commit refers to if theirs fails.
   */
  record Marking(List<Action> actions, long rowsMarked, int filesRemoved, Path deletionVectorFile) {}

  /**
   * Marks {@code marked}'s positions in the candidates: each file's deletion vector (merged with
   * the one it has) written into one new deletion-vector file of the table, then the file's
   * remove and its add with the new vector; a file whose every row is marked is removed.
   *
   * @param path the table, as errors name it
   */
  static Marking mark(org.apache.hadoop.conf.Configuration hadoopConf, Path dataPath, Map<String, AddFile> candidates,
      Map<String, RoaringBitmapArray> marked, long now, String path) {
    for (String f : marked.keySet()) {
      if (candidates.get(f).numPhysicalRecords().isEmpty()) {
        throw new TableCommit.NoRowCounts(path, candidates.get(f).path());
      }
    }
    List<Action> actions = new ArrayList<>();
    long rowsMarked = 0;
    int removed = 0;
    if (marked.isEmpty()) {
      return new Marking(actions, 0, 0, null);
    }
    DeletionVectorStore store = DeletionVectorStore$.MODULE$.createInstance(hadoopConf);
    UUID dvFile = UUID.randomUUID();
    org.apache.spark.sql.delta.storage.dv.DeletionVectorStoreUtils.Writer writer = null;
    Path written = null;
    try {
      for (Map.Entry<String, RoaringBitmapArray> e : marked.entrySet()) {
        AddFile f = candidates.get(e.getKey());
        RoaringBitmapArray bits = e.getValue();
        long before = f.numDeletedRecords();
        if (f.deletionVector() != null) {
          bits.merge(StoredBitmap$.MODULE$.create(f.deletionVector(), dataPath).load(store));
        }
        long newly = bits.cardinality() - before;
        if (newly <= 0) {
          continue; // every position was already deleted
        }
        rowsMarked += newly;
        long physical = (Long) f.numPhysicalRecords().get();
        if (bits.cardinality() == physical) {
          actions.add(f.removeWithTimestamp(now, true)); // every row replaced: the file goes
          removed++;
          continue;
        }
        byte[] data = bits.serializeAsByteArray(RoaringBitmapArrayFormat$.MODULE$.Portable());
        if (writer == null) { // one deletion-vector file for the commit, opened at its first vector
          var file = store.generateFileNameInTable(store.pathWithFileSystem(dataPath), dvFile, "");
          writer = store.createWriter(file);
          written = file.path();
        }
        var range = writer.write(data);
        DeletionVectorDescriptor dv = DeletionVectorDescriptor$.MODULE$.onDiskWithRelativePath(dvFile, "",
            data.length, bits.cardinality(), scala.Option.apply((Object) range.offset()), scala.Option.empty());
        scala.Tuple2<AddFile, org.apache.spark.sql.delta.actions.RemoveFile> pair = f.removeRows(dv, true, true);
        actions.add(pair._1());
        actions.add(pair._2());
      }
    } finally {
      if (writer != null) {
        writer.close();
      }
    }
    return new Marking(actions, rowsMarked, removed, written);
  }

  /**
   * The positions of the keys' rows in the candidates whose every row is in scope and that have a
   * {@link KeyIndex} matching their Delta entry (size, modification time and rows), added to {@code marked}; those
   * files leave {@code toScan}. Returns what it did, for the log (the bench's per-table term reads
   * it: NightlyTermsBench).
   */
  static String indexedPositions(org.apache.hadoop.conf.Configuration hadoopConf,
      Map<String, AddFile> candidates, java.util.Set<String> wholeInScope, Path dataPath, String keyColumn,
      long[] sortedKeys, Map<String, RoaringBitmapArray> marked, Map<String, AddFile> toScan) {
    var thread = java.lang.management.ManagementFactory.getThreadMXBean();
    long cpu = thread.getCurrentThreadCpuTime();
    Map<String, Long> indexes = KeyIndex.list(hadoopConf, dataPath);
    int files = 0;
    long rows = 0;
    for (String name : wholeInScope) {
      AddFile f = candidates.get(name);
      Path file = DeltaFileOperations.absolutePath(dataPath.toString(), f.path());
      Long length = indexes.get(file.getName());
      if (f.numPhysicalRecords().isEmpty() || length == null || !file.getParent().equals(dataPath)) {
        continue;
      }
      long physical = (Long) f.numPhysicalRecords().get();
      KeyIndex index = KeyIndex.read(hadoopConf, file, length, f.size(), f.modificationTime(), keyColumn, physical);
      if (index == null) {
        continue;
      }
      RoaringBitmapArray bits = new RoaringBitmapArray();
      index.positionsOf(sortedKeys, bits::add);
      if (bits.cardinality() > 0) {
        marked.put(name, bits);
      }
      toScan.remove(name);
      files++;
      rows += physical;
    }
    return String.format(java.util.Locale.ROOT, "key index of %d files: %d rows, %.1f ms CPU", files, rows,
        (thread.getCurrentThreadCpuTime() - cpu) / 1e6);
  }

  /**
   * Whether the driver reads the candidates' key column itself ({@link DriverKeyScan}): their rows
   * are known from their statistics and at most {@code driverScanRows}, and the key and scope
   * columns are of types it reads.
   */
  private static boolean readsOnDriver(StructType table, Map<String, AddFile> candidates, String keyColumn,
      Map<String, String> scope, long driverScanRows) {
    long rows = 0;
    for (AddFile f : candidates.values()) {
      if (f.numPhysicalRecords().isEmpty()) {
        return false;
      }
      rows += (Long) f.numPhysicalRecords().get();
    }
    return rows <= driverScanRows && DriverKeyScan.readable(table.apply(keyColumn).dataType(),
        scope.keySet().stream().map(c -> table.apply(c).dataType()).toList());
  }

  /**
   * The rows' positions as the driver reads them ({@link DriverKeyScan}), its thread's CPU in
   * {@code cpuMillis}; null where it cannot read a file (an encoding or a type parquet-mr's column
   * readers refuse, say: logged), and a Spark job reads them instead. A file whose rows are not
   * what its statistics say fails the commit, as its deletion vector would.
   */
  private static Map<String, RoaringBitmapArray> driverPositions(Path dataPath,
      org.apache.hadoop.conf.Configuration hadoopConf, Map<String, AddFile> candidates,
      String keyColumn, Set<Object> keys, long[] sortedKeys, Map<String, String> scope, double[] cpuMillis) {
    // Keys of the wrong type are the caller's error, not a file the driver cannot read: thrown.
    DriverKeyScan.Wanted wanted = new DriverKeyScan.Wanted(sortedKeys, sortedKeys != null ? null : stringKeys(keys));
    var thread = java.lang.management.ManagementFactory.getThreadMXBean();
    long cpu = thread.getCurrentThreadCpuTime();
    try {
      return DriverKeyScan.positions(hadoopConf, absolute(candidates, dataPath.toString()), keyColumn, wanted, scope,
          true);
    } catch (DriverKeyScan.RowCountMismatch e) {
      throw e;
    } catch (RuntimeException e) {
      LOG.warn("{}: the driver could not read the keys ({}); they are read otherwise", dataPath, e.toString());
      return null;
    } finally {
      cpuMillis[0] = (thread.getCurrentThreadCpuTime() - cpu) / 1e6;
    }
  }

  /** The candidates as the driver reads them, by the names {@link #commit} keeps them under. */
  private static Map<String, DriverKeyScan.DataFile> absolute(Map<String, AddFile> candidates, String base) {
    Map<String, DriverKeyScan.DataFile> out = new HashMap<>();
    candidates.forEach((name, f) -> out.put(name, new DriverKeyScan.DataFile(
        DeltaFileOperations.absolutePath(base, f.path()), (Long) f.numPhysicalRecords().get(), f.size(),
        f.modificationTime())));
    return out;
  }

  /** The keys of a string key column. */
  private static Set<String> stringKeys(Set<Object> keys) {
    Set<String> out = new java.util.HashSet<>();
    for (Object k : keys) {
      if (!(k instanceof String str)) {
        throw new IllegalArgumentException("key " + k + " (" + k.getClass().getSimpleName()
            + ") for a string column");
      }
      out.add(str);
    }
    return out;
  }


  /** The keys as sorted longs, where the key column is of an integer type; else null. */
  static long[] integerKeys(DataType type, Set<Object> keys) {
    if (!dev.joule.udfs.files.TaskOutput.IntegerRange.tracks(type) || keys.isEmpty()) {
      return null;
    }
    long[] out = new long[keys.size()];
    int i = 0;
    for (Object k : keys) {
      if (k == null) {
        throw new IllegalArgumentException("a null key: no row has it (pass the keys without nulls)");
      }
      if (!(k instanceof Long || k instanceof Integer || k instanceof Short || k instanceof Byte)) {
        throw new IllegalArgumentException("key " + k + " (" + k.getClass().getSimpleName() + ") for a column of "
            + type.simpleString());
      }
      out[i++] = ((Number) k).longValue();
    }
    java.util.Arrays.sort(out);
    return out;
  }

  /** Whether a file's statistics leave room for one of {@code sortedKeys} (no bounds: yes). */
  static boolean mayHoldAny(String statsJson, String keyColumn, long[] sortedKeys) {
    long[] bounds = FileCommit.integerBounds(statsJson, keyColumn);
    if (bounds == null) {
      return true;
    }
    int at = java.util.Arrays.binarySearch(sortedKeys, bounds[0]);
    if (at >= 0) {
      return true;
    }
    int next = -at - 1; // the first key above the least bound
    return next < sortedKeys.length && sortedKeys[next] <= bounds[1];
  }
}
