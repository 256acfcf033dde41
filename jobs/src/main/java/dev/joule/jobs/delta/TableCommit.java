package dev.joule.jobs.delta;

import io.delta.tables.DeltaTable;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Deque;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes several Delta tables as one unit, as far as Delta allows: each write is one atomic Delta
 * commit, and if a later one fails, the earlier ones are put back — restored to the version they
 * had (a RESTORE commit, so contents are as before while history shows the attempt), or removed
 * if this unit created them. Write the table that marks the run as committed (runs) last.
 *
 * <p>Not safe against another writer committing to the same tables between our write and a
 * rollback: the restore would undo that writer too. Jobs that can run concurrently take the
 * runs-table check first (nightly issue).
 */
public final class TableCommit {

  private static final Logger LOG = LoggerFactory.getLogger(TableCommit.class);

  private final SparkSession spark;
  private final Deque<Written> written = new ArrayDeque<>();

  private record Written(String path, long versionBefore) {}

  public TableCommit(SparkSession spark) {
    this.spark = spark;
  }

  /** Appends rows (creating the table if needed). */
  public void append(String path, Dataset<Row> rows) {
    write(path, rows, null, false, java.util.Map.of());
  }

  /** Appends rows; {@code tableOptions} (e.g. delta.* properties) apply when this creates the table. */
  public void append(String path, Dataset<Row> rows, java.util.Map<String, String> tableOptions) {
    write(path, rows, null, false, tableOptions);
  }

  /**
   * Replaces the rows matching {@code predicate} with {@code rows} in one commit (Delta
   * replaceWhere); creates the table if it does not exist.
   */
  public void replaceWhere(String path, String predicate, Dataset<Row> rows) {
    write(path, rows, predicate, false, java.util.Map.of());
  }

  /**
   * Runs a MERGE (or any single-commit operation) on an existing table, recorded for rollback.
   * Schema evolution, if wanted, belongs on the MERGE itself ({@code withSchemaEvolution()}),
   * never on the session: the session may be a user's notebook.
   */
  public void merge(String path, java.util.function.Consumer<DeltaTable> operation) {
    written.push(new Written(path, DeltaIO.latestVersion(spark, path)));
    operation.accept(DeltaTable.forPath(spark, path));
  }

  /** Replaces the whole table, schema included, in one commit. */
  public void overwrite(String path, Dataset<Row> rows) {
    write(path, rows, null, true, java.util.Map.of());
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
      java.util.Map<String, String> tableOptions) {
    boolean existed = DeltaIO.exists(spark, path);
    long before = existed ? DeltaIO.latestVersion(spark, path) : -1;
    written.push(new Written(path, before));
    // mergeSchema: new optional columns (e.g. predictions.neighbors) join older tables.
    var w = rows.write().format("delta").option("mergeSchema", "true");
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
  }

  /** Puts back every table written so far, newest first. Never throws; logs what it could not do. */
  public void rollback() {
    while (!written.isEmpty()) {
      Written w = written.pop();
      try {
        if (w.versionBefore < 0) {
          DeltaIO.deletePath(spark, w.path);
          LOG.warn("rolled back: removed {} (created by the failed run)", w.path);
        } else if (DeltaIO.latestVersion(spark, w.path) != w.versionBefore) {
          DeltaTable.forPath(spark, w.path).restoreToVersion(w.versionBefore);
          LOG.warn("rolled back: restored {} to version {}", w.path, w.versionBefore);
        }
      } catch (IOException | RuntimeException e) {
        LOG.error("could not roll back {} to version {}: {}", w.path, w.versionBefore, e.toString());
      }
    }
  }
}
