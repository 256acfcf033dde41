package dev.joule.jobs.delta;

import static org.apache.spark.sql.functions.col;

import dev.joule.udfs.files.KeyIndex;
import dev.joule.udfs.files.TaskOutput;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
import org.apache.spark.sql.delta.actions.Metadata;
import org.apache.spark.sql.delta.deletionvectors.RoaringBitmapArray;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
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
    long[] sortedKeys = KeyedMarks.integerKeys(merged.apply(keyColumn).dataType(), keys);
    KeyedMarks.Candidates candidates = KeyedMarks.candidates(
        keys.isEmpty() ? List.<AddFile>of() : DriverFileList.live(spark, engine, txn), dataPath.toString(), keyColumn,
        sortedKeys, scope);
    // Delta's Hadoop configuration for this table (the session's and the table's options), made
    // once: the key indexes, the driver's key scan and the deletion-vector store read with it.
    org.apache.hadoop.conf.Configuration hadoopConf = candidates.files().isEmpty() ? null : log.newDeltaHadoopConf();
    KeyedMarks.Found found = KeyedMarks.find(hadoopConf, dataPath, merged, candidates, keyColumn, keys, sortedKeys,
        scope, driverScanRows);
    Map<String, RoaringBitmapArray> marked = new HashMap<>(found.marked());
    List<String> how = new ArrayList<>(found.how());
    if (!found.unread().isEmpty()) {
      marked.putAll(positions(spark, merged, found.unread(), keyColumn, keys, sortedKeys, found.scopeToRead()));
      how.add("key scan by a Spark job");
    }
    LOG.info("{}: {} keys to replace; {} files may hold them ({}), {} skipped by their {} bounds", path,
        keys.size(), candidates.files().size(), how.isEmpty() ? "none read" : String.join("; ", how),
        candidates.skipped(), keyColumn);
    KeyedMarks.Marking marking = KeyedMarks.mark(hadoopConf, dataPath, candidates.files(), marked,
        System.currentTimeMillis(), path);
    List<Action> actions = new ArrayList<>(marking.actions());
    actions.addAll(FileCommit.adds(files, schema, constants));
    if (actions.isEmpty() && merged == m.schema()) {
      return new Outcome(-1, 0, 0, 0, candidates.files().size(), candidates.skipped());
    }
    long version = txn.commit(scala.jdk.javaapi.CollectionConverters.asScala(actions).toList(),
        FileCommit.write(org.apache.spark.sql.SaveMode.Append, "upsert by " + keyColumn));
    return new Outcome(version, marking.rowsMarked(), marked.size(), marking.filesRemoved(),
        candidates.files().size(), candidates.skipped());
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

}
