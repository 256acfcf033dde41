package dev.joule.jobs.delta;

import io.delta.tables.DeltaTable;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;
import dev.joule.udfs.files.TaskOutput;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes several Delta tables for one run. Each write is one atomic Delta commit, tagged in the
 * commit's {@code userMetadata} with the run's id ({@link CommitTag}), so that the run's own
 * commits can always be found again: by {@link #rollback} when a later write of the run fails,
 * and by {@link RunRecovery} after a crash.
 *
 * <p>Rolling back never restores a table to an earlier version and never deletes a table another
 * writer may have written: it undoes exactly this run's commits ({@link CommitUndo}), and only
 * while the files they added are still live. Write the table that marks the run as committed
 * (runs) last.
 */
public final class TableCommit {

  private static final Logger LOG = LoggerFactory.getLogger(TableCommit.class);
  private static final int CONFLICT_RETRIES = 3;

  private final SparkSession spark;
  private final String runId;
  private io.delta.kernel.engine.Engine engine;
  private final Deque<Written> written = new ArrayDeque<>();
  private int step;
  /** The tables whose checkpoints Delta Kernel writes if this commit creates them ({@link #keepingCheckpointsOf}). */
  private java.util.Set<String> kernelCheckpointed = java.util.Set.of();

  /** A commit this run made: the table and the version it committed. */
  public record Written(String path, long version) {}

  /**
   * A file holding rows {@link #upsertFiles} would mark has no row count in its statistics: Delta
   * refuses a deletion vector on it. Nothing was committed; the caller takes another way (a MERGE).
   */
  public static final class NoRowCounts extends RuntimeException {
    NoRowCounts(String path, String file) {
      super(file + " of " + path + " has no numRecords statistic, which a deletion vector needs");
    }
  }

  /**
   * A last check inside a file commit's transaction, given the table version the transaction
   * read (-1: no table yet); it refuses the commit by throwing. Called again if the commit is
   * retried after a concurrent one.
   */
  @FunctionalInterface
  public interface Guard {
    Guard NONE = readVersion -> {};

    void check(long readVersion);
  }

  /** For a job with no run id of its own (generate, import): one is made up for the tags. */
  public TableCommit(SparkSession spark) {
    this(spark, "job-" + java.util.UUID.randomUUID().toString().substring(0, 8));
  }

  public TableCommit(SparkSession spark, String runId) {
    this(spark, runId, null);
  }

  /**
   * @param engine Delta Kernel's engine for the driver's reads of a table's log ({@link #upsertFiles}'s
   *     file list, and the files a commit replaces), or null for one made on first need
   */
  public TableCommit(SparkSession spark, String runId, io.delta.kernel.engine.Engine engine) {
    this.spark = spark;
    this.runId = runId;
    this.engine = engine;
  }

  /** Appends rows (creating the table if needed). */
  public void append(String path, Dataset<Row> rows) {
    write(path, rows, null, false, Map.of());
  }

  /** Appends rows; {@code tableOptions} (e.g. delta.* properties) apply when this creates the table. */
  public void append(String path, Dataset<Row> rows, Map<String, String> tableOptions) {
    write(path, rows, null, false, tableOptions);
  }

  /**
   * Replaces the rows matching {@code predicate} with {@code rows} in one commit (Delta
   * replaceWhere); creates the table if it does not exist.
   */
  public void replaceWhere(String path, String predicate, Dataset<Row> rows) {
    write(path, rows, predicate, false, Map.of());
  }

  /**
   * Runs a MERGE (or any single-commit operation) on an existing table, tagged with this run.
   * Schema evolution, if wanted, belongs on the MERGE itself ({@code withSchemaEvolution()}),
   * never on the session: the session may be a user's notebook.
   */
  public void merge(String path, Consumer<DeltaTable> operation) {
    tagged(path, tag -> CommitTag.withSessionTag(spark, tag, () -> operation.accept(DeltaTable.forPath(spark, path))));
  }

  /** Runs one SQL statement that commits to {@code path} (e.g. ALTER TABLE), tagged with this run. */
  public void sql(String path, String statement) {
    tagged(path, tag -> CommitTag.withSessionTag(spark, tag, () -> spark.sql(statement)));
  }

  /**
   * Commits data files tasks already wrote into {@code path}'s folder ({@link FileCommit}), in
   * one commit that also removes the rows {@code replace} names (null: append). If some file may
   * mix those rows with others, a Delta DELETE of them goes first, as a commit of its own.
   *
   * @param constants column → the one value it has in every row of {@code files}
   */
  public void addFiles(String path, StructType schema, List<TaskOutput.WrittenFile> files,
      Map<String, String> replace, Map<String, String> constants) {
    addFiles(path, schema, files, replace, constants, Map.of());
  }

  /** As above; a table this commit creates gets {@code newTableProperties}. */
  public void addFiles(String path, StructType schema, List<TaskOutput.WrittenFile> files,
      Map<String, String> replace, Map<String, String> constants, Map<String, String> newTableProperties) {
    addFiles(path, schema, files, replace, constants, newTableProperties, Guard.NONE);
  }

  /**
   * Commits a few rows made on the driver (a run's energy records, its runs row) the way tasks'
   * files are committed ({@link #addFiles}): one Parquet file written here, straight into the
   * table's folder, then one Delta commit. No query is planned and no Spark job runs (a DataFrame
   * write of one row costs a few jobs and their code generation). Nothing to write and nothing
   * to replace: no commit.
   *
   * @param replace column → value: the rows this commit replaces (null: append)
   * @param statsColumns string columns whose one value in every row, where they have one, is
   *     written as the file's statistics (so a later commit can replace these rows by file)
   * @param guard refuses the commit, inside its transaction, by throwing
   */
  public void addRows(String path, StructType schema, List<Row> rows, Map<String, String> replace,
      List<String> statsColumns, Guard guard) {
    Map<String, String> constants = constants(schema, rows, statsColumns);
    List<TaskOutput.WrittenFile> files = rows.isEmpty() ? List.of()
        : List.of(DriverFile.write(spark, path, schema, rows, fileTag("d" + (step + 1))));
    if (files.isEmpty() && replace == null) {
      return;
    }
    int commitsBefore = written.size();
    boolean done = false;
    try {
      addFiles(path, schema, files, replace, constants, Map.of(), guard);
      done = true;
    } finally {
      if (!done && written.size() == commitsBefore) { // a commit that landed names the file
        files.forEach(f -> DriverFile.delete(spark, f));
      }
    }
  }

  /**
   * The string columns among {@code statsColumns} that hold one value in every row of {@code
   * rows}, with it: the statistics of a file of these rows.
   */
  public static Map<String, String> constants(StructType schema, List<Row> rows, List<String> statsColumns) {
    Map<String, String> constants = new java.util.LinkedHashMap<>();
    for (String c : statsColumns) {
      int i = schema.fieldIndex(c);
      java.util.Set<Object> values = new java.util.HashSet<>();
      rows.forEach(r -> values.add(r.get(i)));
      Object only = values.size() == 1 ? values.iterator().next() : "";
      if (only == null || only instanceof String) {
        constants.put(c, (String) only); // null: null in every row, which the statistics say too
      }
    }
    return constants;
  }

  /** Delta Kernel's engine for the driver's reads of a log: the one given, else one made on first need. */
  private io.delta.kernel.engine.Engine driverEngine() {
    if (engine == null) {
      engine = DriverTableReader.engine(spark);
    }
    return engine;
  }

  private void addFiles(String path, StructType schema, List<TaskOutput.WrittenFile> files,
      Map<String, String> replace, Map<String, String> constants, Map<String, String> tableProperties,
      Guard guard) {
    Map<String, String> newTableProperties =
        kernelCheckpointed.contains(path) ? KernelCheckpoints.onNewTable(tableProperties) : tableProperties;
    OutputPaths.requireWritable(spark, path, "output table");
    try {
      tagged(path, tag -> CommitTag.withSessionTag(spark, tag, () -> {
        // A concurrent commit fails the transaction before anything lands. The files are still
        // valid, so commit them again against the new snapshot: a concurrent run of another
        // model keeps its rows; one of the same model and kernel is replaced, as a rerun would.
        retryOnConflict(path, "committing again",
            () -> FileCommit.commit(spark, driverEngine(), path, schema, files, replace, constants, newTableProperties,
                guard));
      }));
    } catch (FileCommit.MixedFiles e) {
      LOG.info("{}; deleting those rows first, in a commit of their own", e.getMessage());
      guard.check(DeltaIO.latestVersion(spark, path)); // before deleting anything, not only before the add
      String predicate = String.join(" AND ", replace.entrySet().stream()
          .map(x -> x.getKey() + " = '" + DeltaIO.sqlString(x.getValue()) + "'").toList());
      merge(path, t -> t.delete(predicate));
      tagged(path, tag -> CommitTag.withSessionTag(spark, tag,
          () -> FileCommit.commit(spark, driverEngine(), path, schema, files, replace, constants, newTableProperties,
                guard)));
    }
  }

  /**
   * Why {@code path} cannot take {@link #upsertFiles} (deletion vectors off, a change data feed,
   * column mapping or constraints), or null when it can.
   */
  public String cannotUpsertFiles(String path) {
    return KeyedUpsert.unusable(spark, path);
  }

  /**
   * Upserts by key without a MERGE ({@link KeyedUpsert}): commits {@code files}, already written
   * into {@code path}'s folder, and marks in deletion vectors the rows in {@code scope} whose
   * {@code keyColumn} is in {@code keys}, in one commit. Retried after a concurrent commit.
   *
   * @param driverScanRows the files to read for the keys' rows are read on the driver when they
   *     hold at most this many rows, else by a Spark job
   * @return rows marked deleted (replaced or deleted by key)
   */
  public long upsertFiles(String path, StructType schema, List<TaskOutput.WrittenFile> files, String keyColumn,
      java.util.Set<Object> keys, Map<String, String> scope, Map<String, String> constants, long driverScanRows) {
    OutputPaths.requireWritable(spark, path, "output table");
    long[] marked = {0};
    tagged(path, tag -> CommitTag.withSessionTag(spark, tag, () -> retryOnConflict(path,
        "finding the rows to replace again",
        () -> marked[0] = KeyedUpsert.commit(spark, driverEngine(), path,
            schema, files, keyColumn, keys, scope, constants, driverScanRows).rowsMarked())));
    return marked[0];
  }

  /** Runs {@code commit}; a concurrent commit that failed it makes it run again, a few times. */
  private static void retryOnConflict(String path, String again, Runnable commit) {
    for (int attempt = 1; ; attempt++) {
      try {
        commit.run();
        return;
      } catch (java.util.ConcurrentModificationException e) {
        if (attempt == CONFLICT_RETRIES) {
          throw e;
        }
        LOG.warn("{} changed while this run committed to it ({}); {}", path, e.getClass().getSimpleName(), again);
      }
    }
  }

  /**
   * Replaces the whole table, schema and table properties included, in one commit (Delta's
   * CREATE OR REPLACE TABLE AS SELECT): a reader sees the old rows with the old properties or the
   * new rows with the new ones, never a mix. {@link #rollback} puts both back.
   */
  public void replace(String path, Dataset<Row> rows, Map<String, String> properties) {
    OutputPaths.requireWritable(spark, path, "output table");
    String table = "delta.`" + DeltaIO.qualified(spark, path).replace("`", "``") + "`";
    tagged(path, tag -> CommitTag.withSessionTag(spark, tag, () -> {
      var w = rows.writeTo(table).using("delta");
      for (Map.Entry<String, String> e : new java.util.TreeMap<>(properties).entrySet()) {
        w = w.tableProperty(e.getKey(), e.getValue());
      }
      w.createOrReplace();
    }));
  }

  /** Replaces the whole table, schema included, in one commit. */
  public void overwrite(String path, Dataset<Row> rows) {
    write(path, rows, null, true, Map.of());
  }

  /**
   * Replaces a rejects table with {@code rows} ({@code count} of them). With nothing rejected and
   * no table there, no table is created: an empty rejects table is litter. A table already there
   * is replaced even then, so it never shows an earlier run's rejects.
   *
   * @return whether a table was written
   */
  public boolean overwriteRejects(String path, Dataset<Row> rows, long count) {
    if (count == 0 && !DeltaIO.exists(spark, path)) {
      return false;
    }
    overwrite(path, rows);
    return true;
  }

  private void write(String path, Dataset<Row> rows, String replacePredicate, boolean replaceAll,
      Map<String, String> tableOptions) {
    OutputPaths.requireWritable(spark, path, "output table");
    boolean existed = DeltaIO.exists(spark, path);
    tagged(path, tag -> {
      // mergeSchema: new optional columns (e.g. predictions.neighbors) join older tables.
      var w = rows.write().format("delta").option("mergeSchema", "true").option("userMetadata", tag);
      if (!existed) {
        w = w.options(tableOptions);
      }
      if (!existed || (replacePredicate == null && !replaceAll)) {
        w.mode("append").save(path);
      } else if (replaceAll) {
        w.mode("overwrite").option("overwriteSchema", "true").save(path);
      } else {
        w.mode("overwrite").option("replaceWhere", replacePredicate).save(path);
      }
    });
  }

  /**
   * Runs one committing operation with this run's next tag, then finds the version it committed
   * (by its tag: other writers may commit around it) and remembers it for {@link #rollback}. An
   * operation that changed nothing may commit nothing; then there is nothing to remember.
   */
  private void tagged(String path, Consumer<String> operation) {
    String tag = CommitTag.write(runId, ++step);
    long before = DeltaIO.exists(spark, path) ? DeltaIO.latestVersion(spark, path) : -1;
    long version = -1;
    try {
      operation.accept(tag);
    } finally {
      // Also after a failure: a commit can land and the call still fail (e.g. a post-commit hook).
      version = CommitTag.find(spark, path, before + 1, tag);
      if (version >= 0) {
        written.push(new Written(path, version));
      }
    }
    if (version >= 0) {
      KernelCheckpoints.afterCommit(spark, driverEngine(), path, version);
    }
  }

  /**
   * {@code tables} (a score's or a night's output tables), if this commit creates them through
   * {@link #addFiles} or {@link #addRows}, get their checkpoints from Delta Kernel after Joule's
   * commits instead of from Delta Spark's five Spark jobs ({@link KernelCheckpoints}).
   */
  public TableCommit keepingCheckpointsOf(java.util.Collection<String> tables) {
    kernelCheckpointed = java.util.Set.copyOf(tables);
    return this;
  }

  /**
   * What names this run's data files in a table folder ({@link dev.joule.udfs.files.TableFiles}
   * takes letters, digits, . _ - only; a run id carries the job's name, which may hold others).
   */
  public String fileTag(String suffix) {
    return (runId + "-" + suffix).replaceAll("[^A-Za-z0-9._-]", "_");
  }

  /** The commits this run made so far, newest first. */
  public List<Written> written() {
    return List.copyOf(written);
  }

  /**
   * Undoes this run's commits, newest first ({@link CommitUndo}): what other writers committed
   * meanwhile stays. Never throws; logs what it could not undo.
   */
  public void rollback() {
    while (!written.isEmpty()) {
      Written w = written.pop();
      try {
        CommitUndo.Outcome o = CommitUndo.undo(spark, w.path(), w.version(), runId);
        LOG.warn("rolled back run {} on {}: {}", runId, w.path(), o.describe());
      } catch (RuntimeException e) {
        LOG.error("could not undo run {}'s commit {} on {}: {}", runId, w.version(), w.path(), e.toString());
      }
    }
  }
}
