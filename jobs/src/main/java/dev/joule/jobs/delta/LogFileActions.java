package dev.joule.jobs.delta;

import io.delta.kernel.CommitActions;
import io.delta.kernel.CommitRange;
import io.delta.kernel.CommitRangeBuilder.CommitBoundary;
import io.delta.kernel.TableManager;
import io.delta.kernel.data.ColumnarBatch;
import io.delta.kernel.data.MapValue;
import io.delta.kernel.data.Row;
import io.delta.kernel.engine.Engine;
import io.delta.kernel.internal.DeltaLogActionUtils.DeltaAction;
import io.delta.kernel.utils.CloseableIterator;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.hadoop.fs.Path;

/**
 * The file actions of a Delta table's commits over a version range ({@code add}, {@code remove}
 * and the change data feed's {@code cdc}, in log order), read from its log with Delta Kernel on
 * the driver, no Spark job: what a night needs to know of its source's changes when it reads them
 * itself, as the history path does ({@code HistoryChanges}) for a table without a feed.
 */
public final class LogFileActions {

  private LogFileActions() {}

  /** What an action does to a file. */
  public enum Kind {
    ADD, REMOVE, CHANGE_FILE
  }

  /**
   * One file action: its file's path made absolute against the table's, its size, whether it
   * carries a deletion vector, and whether it changes data ({@code dataChange}; always true for a
   * change file).
   */
  public record FileAction(Kind kind, String path, long size, boolean deletionVector, boolean dataChange) {}

  /**
   * One commit's file actions in log order; why its rows cannot be read from its files alone
   * where a {@code metaData} action in it sets column mapping or partitions (else null); and
   * whether it has a {@code metaData} action at all (a schema or a property changed).
   */
  public record Commit(long version, List<FileAction> files, String unreadable, boolean metadata) {}

  /**
   * Versions [{@code start}, {@code end}] of the table at {@code qualified} (its qualified path).
   *
   * @throws RuntimeException from Kernel where the range is not in the log (cleaned up, say)
   */
  public static CommitRange range(Engine engine, String qualified, long start, long end) {
    return TableManager.loadCommitRange(qualified, CommitBoundary.atVersion(start))
        .withEndBoundary(CommitBoundary.atVersion(end)).build(engine);
  }

  /**
   * The commits of {@code range}, each with its file actions.
   *
   * @param root the table's path the files' relative paths are resolved against
   */
  public static List<Commit> read(Engine engine, CommitRange range, Path root) {
    List<Commit> out = new ArrayList<>();
    forEach(engine, range, root, out::add);
    return out;
  }

  /** What is done with each commit, in version order; false stops the walk (no later commit is read). */
  @FunctionalInterface
  public interface Visitor {
    boolean visit(Commit commit);
  }

  /** Hands {@code visitor} the commits of {@code range} one at a time, until it returns false. */
  public static void forEach(Engine engine, CommitRange range, Path root, Visitor visitor) {
    String qualified = root.toString();
    try (CloseableIterator<CommitActions> commits = range.getCommitActions(engine,
        Set.of(DeltaAction.ADD, DeltaAction.REMOVE, DeltaAction.CDC, DeltaAction.METADATA))) {
      while (commits.hasNext()) {
        try (CommitActions commit = commits.next(); CloseableIterator<ColumnarBatch> batches = commit.getActions()) {
          List<FileAction> files = new ArrayList<>();
          String unreadable = null;
          boolean[] metadata = {false};
          while (batches.hasNext()) {
            unreadable = collect(root, commit.getVersion(), batches.next(), files, unreadable, metadata);
          }
          if (!visitor.visit(new Commit(commit.getVersion(), files, unreadable, metadata[0]))) {
            return;
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(qualified + ": " + e.getMessage(), e);
    } catch (URISyntaxException e) {
      throw new IllegalStateException(qualified + ": a file path in the log is not a URI: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      throw e;
    } catch (Exception e) { // a commit's close (AutoCloseable)
      throw new IllegalStateException(qualified + ": " + e.getMessage(), e);
    }
  }

  private static String collect(Path root, long version, ColumnarBatch batch, List<FileAction> files,
      String unreadable, boolean[] metadata) throws IOException, URISyntaxException {
    int metaCol = batch.getSchema().indexOf("metaData");
    int[] cols = {batch.getSchema().indexOf("add"), batch.getSchema().indexOf("remove"),
        batch.getSchema().indexOf("cdc")};
    Kind[] kinds = {Kind.ADD, Kind.REMOVE, Kind.CHANGE_FILE};
    try (CloseableIterator<Row> rows = batch.getRows()) {
      while (rows.hasNext()) {
        Row a = rows.next();
        if (metaCol >= 0 && !a.isNullAt(metaCol)) {
          metadata[0] = true;
          Row meta = a.getStruct(metaCol);
          if (!"none".equals(configValue(meta, "delta.columnMapping.mode", "none")) || partitionColumns(meta) > 0) {
            unreadable = "version " + version + " uses column mapping or partitions";
          }
        }
        for (int k = 0; k < cols.length; k++) {
          int col = cols[k];
          if (col < 0 || a.isNullAt(col)) {
            continue;
          }
          Row f = a.getStruct(col);
          int dataChange = f.getSchema().indexOf("dataChange");
          int dv = f.getSchema().indexOf("deletionVector");
          int size = f.getSchema().indexOf("size");
          String file = new Path(root, new Path(new URI(f.getString(f.getSchema().indexOf("path"))))).toString();
          files.add(new FileAction(kinds[k], file, size < 0 || f.isNullAt(size) ? 0 : f.getLong(size),
              dv >= 0 && !f.isNullAt(dv),
              kinds[k] == Kind.CHANGE_FILE || dataChange < 0 || f.isNullAt(dataChange) || f.getBoolean(dataChange)));
        }
      }
    }
    return unreadable;
  }

  private static String configValue(Row meta, String key, String otherwise) {
    int i = meta.getSchema().indexOf("configuration");
    if (i < 0 || meta.isNullAt(i)) {
      return otherwise;
    }
    MapValue m = meta.getMap(i);
    for (int k = 0; k < m.getSize(); k++) {
      if (key.equals(m.getKeys().getString(k))) {
        return m.getValues().isNullAt(k) ? otherwise : m.getValues().getString(k);
      }
    }
    return otherwise;
  }

  private static int partitionColumns(Row meta) {
    int i = meta.getSchema().indexOf("partitionColumns");
    return i < 0 || meta.isNullAt(i) ? 0 : meta.getArray(i).getSize();
  }
}
