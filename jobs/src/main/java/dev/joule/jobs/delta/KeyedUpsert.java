package dev.joule.jobs.delta;

import static org.apache.spark.sql.functions.col;

import dev.joule.udfs.files.KeyIndex;
import dev.joule.udfs.files.TaskOutput;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.hadoop.fs.Path;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.paths.SparkPath;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.delta.DeltaLog;
import org.apache.spark.sql.delta.OptimisticTransaction;
import org.apache.spark.sql.delta.actions.Action;
import org.apache.spark.sql.delta.actions.AddFile;
import org.apache.spark.sql.delta.actions.DeletionVectorDescriptor$;
import org.apache.spark.sql.delta.actions.DeletionVectorDescriptor;
import org.apache.spark.sql.delta.actions.Metadata;
import org.apache.spark.sql.delta.deletionvectors.RoaringBitmapArray;
import org.apache.spark.sql.delta.deletionvectors.RoaringBitmapArrayFormat$;
import org.apache.spark.sql.delta.deletionvectors.StoredBitmap$;
import org.apache.spark.sql.delta.storage.dv.DeletionVectorStore$;
import org.apache.spark.sql.delta.storage.dv.DeletionVectorStore;
import org.apache.spark.sql.delta.util.DeltaFileOperations;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Upserts by key in one Delta commit, without a MERGE: the new rows are data files already
 * written into the table's folder (by the scoring tasks); the rows they replace, and the rows of
 * deleted keys, are marked in deletion vectors. Those rows are sought only in the live files
 * whose key bounds hold a key (listed by Delta Kernel): in a file's {@link KeyIndex} where it has
 * one, else in its key and scope columns (read on the driver up to a number of rows, else by one
 * Spark job that brings back a file and row position per replaced row); no data file is
 * rewritten, and the table's other rows are never read whole.
 *
 * <p>For tables with deletion vectors enabled, no change data feed (its change files would be
 * missing), no column mapping, partitions or constraints ({@link #usable}). The transaction reads
 * the whole table, so a concurrent commit fails this one and nothing of it lands; the caller may
 * run it again (the positions are then found again, on the new snapshot).
 *
 * <p>Uses Delta's own deletion-vector writer and actions (Delta 4.3.1, pinned): the same calls
 * Delta's DELETE/UPDATE/MERGE make ({@code DeletionVectorWriter}, {@code AddFile.removeRows}).
 */
final class KeyedUpsert {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(KeyedUpsert.class);

  private KeyedUpsert() {}

  /** What the commit did. */
  record Outcome(long version, long rowsMarked, int filesTouched, int filesRemoved, int filesScanned,
      int filesSkipped) {}

  /** Why {@code path} cannot take a keyed upsert, or null when it can. */
  static String unusable(SparkSession spark, String path) {
    Map<String, String> p = DeltaIO.properties(spark, path);
    if (!"true".equalsIgnoreCase(p.get("delta.enableDeletionVectors"))) {
      return "deletion vectors are off on " + path;
    }
    if ("true".equalsIgnoreCase(p.get("delta.enableChangeDataFeed"))) {
      return path + " has a change data feed";
    }
    if (!p.getOrDefault("delta.columnMapping.mode", "none").equals("none")
        || p.keySet().stream().anyMatch(k -> k.startsWith("delta.constraints."))) {
      return path + " uses column mapping or constraints";
    }
    return null;
  }

  /**
   * @param engine Delta Kernel's engine, for the live files' list ({@link DriverFileList})
   * @param keyColumn the key (e.g. id); {@code keys} are the keys whose rows this commit replaces
   *     or deletes (Long or String, as the column)
   * @param scope column → value: only rows with these values are replaced (e.g. model_id)
   * @param constants column → the one value it has in every row of {@code files}: their statistics
   */
  static Outcome commit(SparkSession spark, io.delta.kernel.engine.Engine engine, String path, StructType schema,
      List<TaskOutput.WrittenFile> files, String keyColumn, Set<Object> keys, Map<String, String> scope,
      Map<String, String> constants, long driverScanRows) {
    DeltaLog log = DeltaLog.forTable(spark, path);
    OptimisticTransaction txn = log.startTransaction();
    if (txn.readVersion() < 0) {
      throw new IllegalStateException(path + " is not a Delta table");
    }
    Metadata m = txn.metadata();
    FileCommit.refuseUnsupported(m, path);
    if ("true".equalsIgnoreCase(scala.jdk.javaapi.CollectionConverters.asJava(m.configuration())
        .get("delta.enableChangeDataFeed"))) {
      throw new IllegalStateException(path + " has a change data feed now; a keyed upsert would leave it without "
          + "this commit's changes");
    }
    StructType merged = FileCommit.merge(m.schema(), schema.asNullable(), path);
    if (merged != m.schema()) {
      txn.updateMetadata(m.copy(m.id(), m.name(), m.description(), m.format(), merged.json(), m.partitionColumns(),
          m.configuration(), m.createdTime()), false);
    }
    txn.readWholeTable();
    keys = new java.util.HashSet<>(keys);
    keys.remove(null); // a null key matches no row
    Path dataPath = log.dataPath();
    String base = dataPath.toString();
    // The live files that may hold rows in scope with one of the keys, by the path a Parquet scan
    // reports for them. A file whose key bounds hold none of the keys is not read (an id range
    // of its own: the files of an insert-only night, say).
    long[] sortedKeys = integerKeys(merged.apply(keyColumn).dataType(), keys);
    Map<String, AddFile> candidates = new HashMap<>();
    java.util.Set<String> wholeInScope = new java.util.HashSet<>(); // every row in scope: a key index may serve
    int skipped = 0;
    boolean scopeRead = false;
    for (AddFile f : keys.isEmpty() ? List.<AddFile>of() : DriverFileList.live(spark, engine, txn)) {
      FileCommit.Match inScope = FileCommit.match(f.stats(), scope);
      if (inScope == FileCommit.Match.NONE) {
        continue;
      }
      if (sortedKeys != null && !mayHoldAny(f.stats(), keyColumn, sortedKeys)) {
        skipped++;
        continue;
      }
      String name = SparkPath.fromPath(DeltaFileOperations.absolutePath(base, f.path())).urlEncoded();
      candidates.put(name, f);
      if (inScope == FileCommit.Match.ALL || scope.isEmpty()) { // (statistics-less files match SOME)
        wholeInScope.add(name);
      }
    }
    Map<String, RoaringBitmapArray> marked = new HashMap<>();
    List<String> how = new ArrayList<>(); // where the rows were found, for the log
    // Delta's Hadoop configuration for this table (the session's and the table's options), made
    // once: the key indexes, the driver's key scan and the deletion-vector store read with it.
    org.apache.hadoop.conf.Configuration hadoopConf = candidates.isEmpty() ? null : log.newDeltaHadoopConf();
    // The files with a key index (written with them by a night's tasks) are searched in it; the
    // others' key columns are read.
    Map<String, AddFile> toScan = new HashMap<>(candidates);
    if (sortedKeys != null && !candidates.isEmpty()) {
      how.add(indexedPositions(hadoopConf, candidates, wholeInScope, dataPath, keyColumn, sortedKeys, marked, toScan));
    }
    for (String name : toScan.keySet()) {
      scopeRead |= !wholeInScope.contains(name);
    }
    Map<String, String> scopeToRead = scopeRead ? scope : Map.of();
    if (!toScan.isEmpty()) {
      double[] cpuMillis = {0};
      Map<String, RoaringBitmapArray> scanned = null;
      if (readsOnDriver(merged, toScan, keyColumn, scopeToRead, driverScanRows)) {
        scanned = driverPositions(log, hadoopConf, toScan, base, keyColumn, keys, sortedKeys, scopeToRead,
            cpuMillis);
        // The bench's per-table term reads this line (NightlyTermsBench).
        how.add(String.format(java.util.Locale.ROOT, "key scan on the driver: %d rows, %.1f ms CPU",
            toScan.values().stream().mapToLong(f -> (Long) f.numPhysicalRecords().get()).sum(), cpuMillis[0]));
      }
      if (scanned == null) {
        scanned = positions(spark, merged, toScan, keyColumn, keys, sortedKeys, scopeToRead);
        how.add("key scan by a Spark job");
      }
      marked.putAll(scanned);
    }
    LOG.info("{}: {} keys to replace; {} files may hold them ({}), {} skipped by their {} bounds", path,
        keys.size(), candidates.size(), how.isEmpty() ? "none read" : String.join("; ", how), skipped, keyColumn);

    for (String f : marked.keySet()) {
      if (candidates.get(f).numPhysicalRecords().isEmpty()) {
        throw new TableCommit.NoRowCounts(path, candidates.get(f).path());
      }
    }
    List<Action> actions = new ArrayList<>();
    long now = System.currentTimeMillis();
    long rowsMarked = 0;
    int removed = 0;
    if (!marked.isEmpty()) {
      DeletionVectorStore store = DeletionVectorStore$.MODULE$.createInstance(hadoopConf);
      UUID dvFile = UUID.randomUUID();
      org.apache.spark.sql.delta.storage.dv.DeletionVectorStoreUtils.Writer writer = null;
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
            writer = store.createWriter(store.generateFileNameInTable(store.pathWithFileSystem(dataPath), dvFile, ""));
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
    }
    actions.addAll(FileCommit.adds(files, schema, constants));
    if (actions.isEmpty() && merged == m.schema()) {
      return new Outcome(-1, 0, 0, 0, candidates.size(), skipped);
    }
    long version = txn.commit(scala.jdk.javaapi.CollectionConverters.asScala(actions).toList(),
        FileCommit.write(org.apache.spark.sql.SaveMode.Append, "upsert by " + keyColumn));
    return new Outcome(version, rowsMarked, marked.size(), removed, candidates.size(), skipped);
  }

  /**
   * The positions of the keys' rows in the candidates whose every row is in scope and that have a
   * {@link KeyIndex} matching their Delta entry (size, modification time and rows), added to {@code marked}; those
   * files leave {@code toScan}. Returns what it did, for the log (the bench's per-table term reads
   * it: NightlyTermsBench).
   */
  private static String indexedPositions(org.apache.hadoop.conf.Configuration hadoopConf,
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
  private static Map<String, RoaringBitmapArray> driverPositions(DeltaLog log,
      org.apache.hadoop.conf.Configuration hadoopConf, Map<String, AddFile> candidates,
      String base, String keyColumn, Set<Object> keys, long[] sortedKeys, Map<String, String> scope,
      double[] cpuMillis) {
    // Keys of the wrong type are the caller's error, not a file the driver cannot read: thrown.
    DriverKeyScan.Wanted wanted = new DriverKeyScan.Wanted(sortedKeys, sortedKeys != null ? null : stringKeys(keys));
    var thread = java.lang.management.ManagementFactory.getThreadMXBean();
    long cpu = thread.getCurrentThreadCpuTime();
    try {
      return DriverKeyScan.positions(hadoopConf, absolute(candidates, base), keyColumn, wanted, scope, true);
    } catch (DriverKeyScan.RowCountMismatch e) {
      throw e;
    } catch (RuntimeException e) {
      LOG.warn("{}: the driver could not read the keys ({}); a Spark job reads them", log.dataPath(), e.toString());
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

  /**
   * The positions of the rows in scope whose key is in {@code keys}, per file: one scan of the
   * key column of {@code candidates} (and of the scope's columns, where some file may hold rows
   * out of scope), filtered against the keys broadcast, the hits' file and row index collected.
   *
   * @param sortedKeys the keys as sorted longs for an integer key column, else null
   */
  private static Map<String, RoaringBitmapArray> positions(SparkSession spark, StructType table,
      Map<String, AddFile> candidates, String keyColumn, Set<Object> keys, long[] sortedKeys,
      Map<String, String> scope) {
    StructField keyField = table.apply(keyColumn);
    StructType read = new StructType().add(keyField);
    for (String c : scope.keySet()) {
      read = read.add(table.apply(c));
    }
    String[] paths = candidates.keySet().stream().map(p -> SparkPath.fromUrlString(p).toPath().toString())
        .toArray(String[]::new);
    // Every candidate must be read whole: a session that skips missing or corrupt files would
    // leave rows unmarked, and their ids twice in the table.
    Dataset<Row> scan = spark.read().schema(read).option("ignoreMissingFiles", "false")
        .option("ignoreCorruptFiles", "false").parquet(paths);
    for (Map.Entry<String, String> e : scope.entrySet()) {
      scan = scan.filter(col(e.getKey()).equalTo(e.getValue()));
    }
    if (sortedKeys != null) { // row groups outside the keys' range are skipped by their statistics
      scan = scan.filter(col(keyColumn).between(sortedKeys[0], sortedKeys[sortedKeys.length - 1]));
    }
    // The keys go to the tasks once, broadcast: sorted longs searched by bisection for an integer
    // key, else a hash set. The test is a UDF of the key alone, so no scanned row is converted.
    Broadcast<?> wanted;
    UserDefinedFunction isWanted;
    Column key = col(keyColumn);
    if (sortedKeys != null) {
      Broadcast<long[]> sorted = spark.sparkContext().broadcast(sortedKeys, scala.reflect.ClassTag$.MODULE$.apply(
          long[].class));
      wanted = sorted;
      isWanted = functions.udf((UDF1<Long, Boolean>) k -> k != null
          && java.util.Arrays.binarySearch(sorted.value(), k) >= 0, DataTypes.BooleanType);
      key = key.cast(DataTypes.LongType);
    } else {
      Broadcast<Set<Object>> set = spark.sparkContext().broadcast(new java.util.HashSet<>(keys),
          scala.reflect.ClassTag$.MODULE$.apply(Set.class));
      wanted = set;
      isWanted = functions.udf((UDF1<Object, Boolean>) k -> k != null && set.value().contains(k),
          DataTypes.BooleanType);
    }
    Dataset<Row> hits = scan.filter(isWanted.apply(key))
        .select(col("_metadata.file_path").as("f"), col("_metadata.row_index").as("r"));
    Map<String, RoaringBitmapArray> out = new HashMap<>();
    var context = spark.sparkContext();
    String description = context.getLocalProperty("spark.job.description");
    context.setJobDescription("finding the rows to replace: the " + keyColumn + " column of " + paths.length
        + " file(s)");
    List<Row> found;
    try {
      found = hits.collectAsList();
    } finally {
      context.setJobDescription(description);
      wanted.destroy();
    }
    for (Row r : found) {
      String f = r.getString(0);
      if (!candidates.containsKey(f)) {
        throw new IllegalStateException("a scanned file is not among the table's files: " + f);
      }
      out.computeIfAbsent(f, x -> new RoaringBitmapArray()).add(r.getLong(1));
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
