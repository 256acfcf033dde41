package dev.joule.jobs.nightly;

import io.delta.kernel.CommitActions;
import io.delta.kernel.CommitRange;
import io.delta.kernel.CommitRangeBuilder.CommitBoundary;
import io.delta.kernel.TableManager;
import io.delta.kernel.data.ColumnarBatch;
import io.delta.kernel.data.MapValue;
import io.delta.kernel.data.Row;
import io.delta.kernel.defaults.engine.DefaultEngine;
import io.delta.kernel.engine.Engine;
import io.delta.kernel.internal.DeltaLogActionUtils.DeltaAction;
import io.delta.kernel.utils.CloseableIterator;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/**
 * The data files a version range of a Delta table added and removed, read from its log with Delta
 * Kernel on the driver (no Spark job): the change source when the table has no change data feed.
 * Actions that do not change data (OPTIMIZE, {@code dataChange = false}) are skipped. Returns a
 * reason instead when the files alone cannot describe the rows: deletion vectors, partition
 * values, column mapping, or commits already cleaned out of the log.
 */
final class HistoryChanges {

  final List<String> added = new ArrayList<>();
  final List<String> removed = new ArrayList<>();
  String reason;

  static HistoryChanges read(SparkSession spark, String table, long start, long end) {
    HistoryChanges h = new HistoryChanges();
    Set<String> add = new LinkedHashSet<>();
    Set<String> remove = new LinkedHashSet<>();
    Path root = new Path(table);
    try {
      FileSystem fs = root.getFileSystem(spark.sparkContext().hadoopConfiguration());
      String qualified = fs.makeQualified(root).toString();
      Engine engine = DefaultEngine.create(spark.sparkContext().hadoopConfiguration());
      CommitRange range;
      try {
        range = TableManager.loadCommitRange(qualified, CommitBoundary.atVersion(start))
            .withEndBoundary(CommitBoundary.atVersion(end)).build(engine);
      } catch (RuntimeException e) {
        h.reason = "the table history for versions " + start + ".." + end + " is no longer in _delta_log (log cleaned "
            + "up): " + e.getMessage();
        return h;
      }
      try (CloseableIterator<CommitActions> commits = range.getCommitActions(engine,
          Set.of(DeltaAction.ADD, DeltaAction.REMOVE, DeltaAction.METADATA))) {
        while (commits.hasNext()) {
          try (CommitActions commit = commits.next(); CloseableIterator<ColumnarBatch> batches = commit.getActions()) {
            String why = collect(root, commit.getVersion(), batches, add, remove);
            if (why != null) {
              h.reason = why;
              return h;
            }
          }
        }
      }
      for (String f : remove) {
        if (!fs.exists(new Path(f))) {
          h.reason = "a data file removed in versions " + start + ".." + end + " is gone (vacuumed): " + f;
          return h;
        }
      }
    } catch (Exception e) {
      h.reason = "the table history could not be read: " + e.getMessage();
      return h;
    }
    h.added.addAll(add);
    h.removed.addAll(remove);
    return h;
  }

  /** One commit's actions into the sets; a reason when the files alone cannot describe its rows. */
  private static String collect(Path root, long version, CloseableIterator<ColumnarBatch> batches, Set<String> add,
      Set<String> remove) throws IOException, URISyntaxException {
    while (batches.hasNext()) {
      ColumnarBatch batch = batches.next();
      int metaCol = batch.getSchema().indexOf("metaData");
      int addCol = batch.getSchema().indexOf("add");
      int removeCol = batch.getSchema().indexOf("remove");
      try (CloseableIterator<Row> rows = batch.getRows()) {
        while (rows.hasNext()) {
          Row a = rows.next();
          if (metaCol >= 0 && !a.isNullAt(metaCol)) {
            Row meta = a.getStruct(metaCol);
            if (!"none".equals(configValue(meta, "delta.columnMapping.mode", "none"))
                || partitionColumns(meta) > 0) {
              return "version " + version + " uses column mapping or partitions, which the history path does not read";
            }
          }
          for (int col : new int[] {addCol, removeCol}) {
            if (col < 0 || a.isNullAt(col)) {
              continue;
            }
            Row f = a.getStruct(col);
            int dataChange = f.getSchema().indexOf("dataChange");
            if (dataChange >= 0 && !f.isNullAt(dataChange) && !f.getBoolean(dataChange)) {
              continue;
            }
            int dv = f.getSchema().indexOf("deletionVector");
            if (dv >= 0 && !f.isNullAt(dv)) {
              return "version " + version + " uses deletion vectors; enable the change data feed for incremental nights";
            }
            String file = new Path(root, new Path(new URI(f.getString(f.getSchema().indexOf("path"))))).toString();
            if (col == addCol) {
              add.add(file);
            } else if (!add.remove(file)) {
              remove.add(file); // a file added and removed inside the range never mattered
            }
          }
        }
      }
    }
    return null;
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
