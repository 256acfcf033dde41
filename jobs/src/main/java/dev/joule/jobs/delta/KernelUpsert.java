package dev.joule.jobs.delta;

import dev.joule.udfs.files.TaskOutput;
import io.delta.kernel.Operation;
import io.delta.kernel.Snapshot;
import io.delta.kernel.TableManager;
import io.delta.kernel.Transaction;
import io.delta.kernel.TransactionCommitResult;
import io.delta.kernel.data.ColumnarBatch;
import io.delta.kernel.data.Row;
import io.delta.kernel.engine.Engine;
import io.delta.kernel.hook.PostCommitHook;
import io.delta.kernel.internal.SnapshotImpl;
import io.delta.kernel.internal.actions.SingleAction;
import io.delta.kernel.transaction.UpdateTableTransactionBuilder;
import io.delta.kernel.utils.CloseableIterable;
import io.delta.kernel.utils.CloseableIterator;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.delta.actions.Action;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;

/**
 * An upsert by key committed through Delta Kernel, with no Spark session: what
 * {@link KeyedUpsert} commits through a Delta Spark transaction (new files added, the rows they
 * replace and the rows of deleted keys marked in deletion vectors, found in key indexes or by the
 * driver's read of the key column), for a caller that has no session, such as a night scored on
 * the driver. The actions are Delta's own ({@link KeyedMarks}), handed to Kernel's transaction as
 * the log's JSON.
 *
 * <p>Never retried. Delta Kernel 4.3.1 rebases a transaction over a concurrent commit after
 * checking only its protocol, metadata, transaction ids and domain metadata, never the files it
 * removed: two commits marking one file from the same snapshot would both land, the file then live
 * twice (each add under its own vector), its rows read twice and the other's marked rows back
 * (checked in {@code KernelUpsertIT}). So any commit after this
 * one's snapshot fails it ({@link ConcurrentCommit}), nothing of it lands, and the caller may run
 * it again on the new snapshot.
 *
 * <p>For the tables {@link KeyedUpsert} takes (deletion vectors on; no change data feed, column
 * mapping, constraints or partitions; an {@link #append} also takes tables without deletion
 * vectors or with a change data feed), whose schema already holds the new files' columns, whose
 * live files Kernel lists as Delta does ({@link DriverFileList#list}), and for which no Delta log
 * store is configured in the Hadoop configuration (Kernel would commit past it). Where the driver
 * cannot read a candidate file's keys (an encoding parquet-mr's column readers refuse, say) or
 * they are more than {@code driverScanRows} rows, it refuses (IllegalStateException) and writes
 * nothing: that commit needs {@link KeyedUpsert}'s Spark job.
 */
public final class KernelUpsert {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(KernelUpsert.class);

  private KernelUpsert() {}

  /** The engine info of this class's commits: Kernel writes {@code Kernel-<version>/Joule}. */
  static final String ENGINE_INFO = "Joule";

  /** What the commit did; version -1 where it had nothing to commit. */
  public record Outcome(long version, long rowsMarked, int filesTouched, int filesRemoved, int filesScanned,
      int filesSkipped) {}

  /**
   * The transaction's id in the log ({@code txn} action): Delta's idempotent-writer mark. A commit
   * whose application already has this version or a later one in the table is refused.
   */
  public record TransactionId(String application, long version) {}

  /** Another commit landed after this one's snapshot: nothing of this one did; it may run again. */
  public static final class ConcurrentCommit extends RuntimeException {
    ConcurrentCommit(String path, Exception cause) {
      super(path + ": another commit landed first; this one committed nothing (" + cause.getMessage() + ")", cause);
    }
  }

  /** The table holds this transaction id's version already: that commit was made; nothing was written now. */
  public static final class AlreadyCommitted extends RuntimeException {
    AlreadyCommitted(String path, TransactionId id, Exception cause) {
      super(path + ": transaction " + id.application() + " version " + id.version() + " is committed already",
          cause);
    }
  }

  /** Writing the commit file failed in a way that may have left it landed: read the log before going on. */
  public static final class MayHaveLanded extends IllegalStateException {
    private final long readVersion;

    MayHaveLanded(String message, long readVersion, Throwable cause) {
      super(message, cause);
      this.readVersion = readVersion;
    }

    /** The version the commit built on: if it landed, it is a later one. */
    public long readVersion() {
      return readVersion;
    }
  }

  /**
   * Some files that may hold the keys were not read on the driver (too many rows, no row counts,
   * a layout it does not read): nothing was written, and a Spark job would read them.
   */
  public static final class KeysNotRead extends IllegalStateException {
    KeysNotRead(String message) {
      super(message);
    }
  }

  /**
   * @param hadoopConf the Hadoop configuration the table's files are read and written with
   * @param path the table, a qualified path (a scheme and an absolute path)
   * @param schema the new files' columns, all in the table's schema
   * @param files the new files, written into the table's folder (as a night's tasks write them)
   * @param keyColumn the key (e.g. id); {@code keys} are the keys whose earlier rows in scope are
   *     marked (Long or String, as the column)
   * @param scope column → value: only rows with these values are marked (e.g. model_id)
   * @param constants column → the one value it has in every row of {@code files}: their statistics
   * @param txnId where present, the transaction's id (exactly once)
   * @throws ConcurrentCommit where another commit landed after this one's snapshot
   * @throws AlreadyCommitted where the table has {@code txnId} already
   * @throws IllegalStateException where the table or its files are not ones this commit takes
   *     (nothing written), or where the commit file's write failed and it may have landed
   */
  public static Outcome commit(Engine engine, org.apache.hadoop.conf.Configuration hadoopConf, String path,
      StructType schema, List<TaskOutput.WrittenFile> files, Map<String, String> constants, String keyColumn,
      Set<Object> keys, Map<String, String> scope, Optional<TransactionId> txnId, long driverScanRows) {
    return commit(engine, hadoopConf, path, schema, files, constants, keyColumn, keys, scope, txnId, driverScanRows,
        v -> { }, () -> { });
  }

  /**
   * Adds {@code files} in one commit and marks nothing: the small tables a night writes on the
   * driver (energy_log, runs, rejects), their files written with {@link DriverFile}. Such a
   * commit takes tables without deletion vectors, and with a change data feed (added files are
   * its inserts). It removes nothing, so Kernel's own retries are safe here: a concurrent commit
   * is rebased over, unless it holds the same transaction id ({@link AlreadyCommitted}). The
   * caller's files stay where the commit is refused ({@link DriverFile#delete}).
   */
  public static Outcome append(Engine engine, org.apache.hadoop.conf.Configuration hadoopConf, String path,
      StructType schema, List<TaskOutput.WrittenFile> files, Map<String, String> constants,
      Optional<TransactionId> txnId) {
    return commit(engine, hadoopConf, path, schema, files, constants, schema.fields()[0].name(), Set.of(), Map.of(),
        txnId, 0, null, () -> { });
  }

  /**
   * An append that lands only on a table {@code check} accepts: the check runs against each
   * snapshot's version before the commit, and Kernel never rebases the commit over another one. A
   * commit that lands first makes it load the table again and check again (a bounded number of
   * times). What must hold at the version a commit builds on (no other run's row for this key,
   * say) is checked this way; the check throws to refuse.
   */
  public static Outcome appendChecked(Engine engine, org.apache.hadoop.conf.Configuration hadoopConf, String path,
      StructType schema, List<TaskOutput.WrittenFile> files, Map<String, String> constants,
      Optional<TransactionId> txnId, java.util.function.LongConsumer check) {
    for (int attempt = 1;; attempt++) {
      try {
        return commit(engine, hadoopConf, path, schema, files, constants, schema.fields()[0].name(), Set.of(),
            Map.of(), txnId, 0, check, () -> { });
      } catch (ConcurrentCommit e) {
        if (attempt == CHECKED_ATTEMPTS) {
          throw e;
        }
        LOG.info("{}: another commit landed first; checking again ({})", path, e.getMessage());
      }
    }
  }

  private static final int CHECKED_ATTEMPTS = 10;

  /**
   * Creates the table at {@code path} with {@code schema} and no rows, where there is none yet,
   * as Joule creates its output tables (checkpoints handed to Joule, {@link KernelCheckpoints});
   * true if this call created it. Kernel's create has no transaction id, so this first commit
   * carries no run tag: the append with one follows.
   */
  public static boolean createIfMissing(Engine engine, String path, StructType schema) {
    try {
      TableManager.loadSnapshot(path).build(engine);
      return false;
    } catch (io.delta.kernel.exceptions.TableNotFoundException e) {
      // created below
    }
    io.delta.kernel.types.StructType kernelSchema =
        io.delta.kernel.internal.types.DataTypeJsonSerDe.deserializeStructType(schema.json());
    Transaction txn = TableManager.buildCreateTableTransaction(path, kernelSchema, ENGINE_INFO)
        .withTableProperties(KernelCheckpoints.onNewTable(Map.of())).withMaxRetries(0).build(engine);
    try {
      txn.commit(engine, CloseableIterable.emptyIterable());
      return true;
    } catch (io.delta.kernel.exceptions.ConcurrentWriteException e) {
      return false; // another writer created it first
    }
  }

  /**
   * As above; {@code atSnapshot} (null: none) is handed the snapshot's version first and the
   * commit is never rebased where it is set; {@code beforeCommit} runs between the snapshot and
   * the commit (tests: a concurrent writer).
   */
  static Outcome commit(Engine engine, org.apache.hadoop.conf.Configuration hadoopConf, String path,
      StructType schema, List<TaskOutput.WrittenFile> files, Map<String, String> constants, String keyColumn,
      Set<Object> keys, Map<String, String> scope, Optional<TransactionId> txnId, long driverScanRows,
      java.util.function.LongConsumer atSnapshot, Runnable beforeCommit) {
    Snapshot snapshot = TableManager.loadSnapshot(path).build(engine);
    if (!(snapshot instanceof SnapshotImpl impl)) {
      throw new IllegalStateException(path + ": an unknown snapshot type");
    }
    StructType table = (StructType) DataType.fromJson(impl.getMetadata().getSchemaString());
    boolean marks = keys.stream().anyMatch(java.util.Objects::nonNull);
    refuseUnsupported(impl, table, schema, path, hadoopConf, marks);
    if (atSnapshot != null) {
      atSnapshot.accept(snapshot.getVersion());
    }
    // Built before any file is written: Kernel's own refusals (a table feature it does not write)
    // and a transaction id already in the table come here, with nothing left behind.
    Transaction txn;
    try {
      UpdateTableTransactionBuilder builder = snapshot.buildUpdateTableTransaction(ENGINE_INFO, Operation.WRITE);
      if (marks || atSnapshot != null) {
        builder = builder.withMaxRetries(0); // (see the class comment)
      }
      if (txnId.isPresent()) {
        builder = builder.withTransactionId(txnId.get().application(), txnId.get().version());
      }
      txn = builder.build(engine);
    } catch (io.delta.kernel.exceptions.ConcurrentTransactionException e) {
      throw new AlreadyCommitted(path, txnId.orElseThrow(), e);
    }
    keys = new HashSet<>(keys);
    keys.remove(null); // a null key matches no row
    Path dataPath = new Path(impl.getPath());
    long[] sortedKeys = KeyedMarks.integerKeys(table.apply(keyColumn).dataType(), keys);
    KeyedMarks.Candidates candidates = KeyedMarks.candidates(
        keys.isEmpty() ? List.of() : DriverFileList.list(engine, path, snapshot.getVersion()), dataPath.toString(),
        keyColumn, sortedKeys, scope);
    KeyedMarks.Found found = KeyedMarks.find(hadoopConf, dataPath, table, candidates, keyColumn, keys, sortedKeys,
        scope, driverScanRows);
    if (!found.unread().isEmpty()) {
      throw new KeysNotRead(path + ": the keys of " + found.unread().size() + " file(s) were not read on "
          + "the driver (more than " + driverScanRows + " rows, or a layout it does not read)");
    }
    LOG.info("{}: {} keys to replace; {} files may hold them ({}), {} skipped by their {} bounds", path,
        keys.size(), candidates.files().size(), found.how().isEmpty() ? "none read" : String.join("; ", found.how()),
        candidates.skipped(), keyColumn);
    KeyedMarks.Marking marking = KeyedMarks.mark(hadoopConf, dataPath, candidates.files(), found.marked(),
        System.currentTimeMillis(), path);
    List<Action> actions = new ArrayList<>(marking.actions());
    actions.addAll(FileCommit.adds(files, schema, constants));
    if (actions.isEmpty()) {
      return new Outcome(-1, 0, 0, 0, candidates.files().size(), candidates.skipped());
    }
    beforeCommit.run();
    TransactionCommitResult result;
    try {
      result = txn.commit(engine, CloseableIterable.inMemoryIterable(
          io.delta.kernel.internal.util.Utils.toCloseableIterator(kernelRows(engine, actions, path).iterator())));
    } catch (io.delta.kernel.exceptions.ConcurrentTransactionException e) { // the same id landed meanwhile
      deleteQuietly(marking.deletionVectorFile(), hadoopConf);
      throw new AlreadyCommitted(path, txnId.orElseThrow(), e);
    } catch (io.delta.kernel.exceptions.ConcurrentWriteException e) {
      deleteQuietly(marking.deletionVectorFile(), hadoopConf);
      throw new ConcurrentCommit(path, e);
    } catch (io.delta.kernel.exceptions.MaxCommitRetryLimitReachedException e) {
      if (e.getCause() instanceof io.delta.kernel.commit.CommitFailedException failed && failed.isConflict()) {
        deleteQuietly(marking.deletionVectorFile(), hadoopConf);
        throw new ConcurrentCommit(path, e);
      }
      // Not a conflict: writing the commit file failed (an I/O error, say), and it may have landed.
      throw new MayHaveLanded(path + ": the commit may or may not have landed (" + e.getMessage()
          + "); read the table's log before running this again", snapshot.getVersion(), e);
    } catch (RuntimeException e) {
      // Kernel's CommitStateUnknownException (its retry found the version written: by this
      // commit's first try, or by another writer), an I/O error: whether it landed is unknown.
      throw new MayHaveLanded(path + ": the commit may or may not have landed (" + e + "); read the table's log "
          + "before running this again", snapshot.getVersion(), e);
    }
    for (PostCommitHook hook : result.getPostCommitHooks()) {
      // A checksum file speeds later reads; a checkpoint at the table's own interval, where the
      // table keeps Delta's (those handed to Joule are KernelCheckpoints' below).
      if (hook.getType() == PostCommitHook.PostCommitHookType.CHECKSUM_SIMPLE
          || hook.getType() == PostCommitHook.PostCommitHookType.CHECKPOINT) {
        try {
          hook.threadSafeInvoke(engine);
        } catch (IOException | RuntimeException e) { // the commit has landed
          LOG.warn("{}: post-commit {} of version {} not done ({})", path, hook.getType(), result.getVersion(),
              e.toString());
        }
      }
    }
    KernelCheckpoints.afterCommit(engine, hadoopConf, path, result.getVersion(), result.getPostCommitSnapshot());
    return new Outcome(result.getVersion(), marking.rowsMarked(), found.marked().size(), marking.filesRemoved(),
        candidates.files().size(), candidates.skipped());
  }

  /**
   * Why a commit of files with {@code schema} to {@code path} would be refused, or null: what
   * {@link #commit} checks before it writes anything (the table missing, for an upsert: an
   * append's caller creates it; its features, a log store, Kernel's own refusals), asked before
   * the files are written.
   *
   * @param marks whether the commit would mark rows (an upsert), or only add files (an append)
   */
  public static String refusal(Engine engine, org.apache.hadoop.conf.Configuration hadoopConf, String path,
      StructType schema, boolean marks) {
    try {
      Snapshot snapshot = TableManager.loadSnapshot(path).build(engine);
      if (!(snapshot instanceof SnapshotImpl impl)) {
        return path + ": an unknown snapshot type";
      }
      refuseUnsupported(impl, (StructType) DataType.fromJson(impl.getMetadata().getSchemaString()), schema, path,
          hadoopConf, marks);
      snapshot.buildUpdateTableTransaction(ENGINE_INFO, Operation.WRITE).build(engine);
      return null;
    } catch (io.delta.kernel.exceptions.TableNotFoundException e) {
      return marks ? path + " is not a Delta table yet" : null; // an append's caller creates it
    } catch (IllegalStateException | io.delta.kernel.exceptions.KernelException e) {
      return e.getMessage();
    }
  }

  /** @param marks whether the commit marks rows (an upsert), or only adds files (an append) */
  private static void refuseUnsupported(SnapshotImpl impl, StructType table, StructType schema, String path,
      org.apache.hadoop.conf.Configuration hadoopConf, boolean marks) {
    // Kernel commits through its own log store for the path's scheme: one Delta is configured
    // with (a DynamoDB-coordinated S3 store, say) would be bypassed, and two writers could both
    // write one version.
    for (Map.Entry<String, String> e : hadoopConf) {
      if (e.getKey().startsWith("delta.logStore.") || e.getKey().startsWith("spark.delta.logStore.")) {
        throw new IllegalStateException(path + ": a Delta log store is configured (" + e.getKey() + "), which a "
            + "Kernel commit would bypass");
      }
    }
    Map<String, String> conf = impl.getMetadata().getConfiguration();
    if (marks && !"true".equalsIgnoreCase(conf.get("delta.enableDeletionVectors"))) {
      throw new IllegalStateException("deletion vectors are off on " + path);
    }
    if (marks && "true".equalsIgnoreCase(conf.get("delta.enableChangeDataFeed"))) {
      throw new IllegalStateException(path + " has a change data feed; a keyed upsert would leave it without this "
          + "commit's changes");
    }
    if (!conf.getOrDefault("delta.columnMapping.mode", "none").equals("none")
        || conf.keySet().stream().anyMatch(k -> k.startsWith("delta.constraints."))
        || !impl.getPartitionColumnNames().isEmpty()) {
      throw new IllegalStateException(path + " uses column mapping, constraints or partitions");
    }
    if (FileCommit.merge(table, schema.asNullable(), path) != table) {
      throw new IllegalStateException(path + ": the new files have columns the table lacks (a schema change, "
          + "which this commit does not make)");
    }
  }

  /** Delta's actions as Kernel's rows of the log's action schema, through their JSON. */
  static List<Row> kernelRows(Engine engine, List<Action> actions, String path) {
    byte[][] json = new byte[actions.size()][];
    for (int i = 0; i < json.length; i++) {
      json[i] = actions.get(i).json().getBytes(StandardCharsets.UTF_8);
    }
    ColumnarBatch batch = engine.getJsonHandler().parseJson(
        new io.delta.kernel.defaults.internal.data.vector.DefaultBinaryVector(io.delta.kernel.types.StringType.STRING,
            json.length, json),
        SingleAction.FULL_SCHEMA, Optional.empty());
    List<Row> rows = new ArrayList<>(json.length);
    try (CloseableIterator<Row> it = batch.getRows()) {
      while (it.hasNext()) {
        rows.add(it.next());
      }
    } catch (IOException e) {
      throw new UncheckedIOException(path + ": " + e.getMessage(), e);
    }
    return rows;
  }

  private static void deleteQuietly(Path file, org.apache.hadoop.conf.Configuration conf) {
    if (file == null) {
      return;
    }
    try {
      file.getFileSystem(conf).delete(file, false);
    } catch (IOException | RuntimeException e) {
      // VACUUM removes it: no commit refers to it
    }
  }
}
