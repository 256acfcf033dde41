package dev.joule.udfs.files;

import java.io.IOException;
import java.util.List;
import org.apache.spark.sql.catalyst.InternalRow;

/**
 * One table's data file of one task attempt, opened at its first row: a task that writes no row
 * to a table leaves no file in it. Closed, it becomes a {@link TaskOutput.WrittenFile} for the
 * driver's commit; aborted (the task failed), it is deleted. Its rows come as Spark's
 * {@code InternalRow}s ({@link #write}) or, for predictions, as values ({@link #writePrediction},
 * {@link #writeNeighbors}); one file takes one kind.
 */
public final class TaskFile {
  private final String table;
  private final TableFiles files;
  private final int partition;
  private final int attempt;
  private final long taskAttempt;
  private TableFiles.Open open;
  private long rows;
  /** The first column's type where it is an integer type, else null: its range is tracked. */
  private final org.apache.spark.sql.types.DataType integerFirst;
  private boolean firstAlwaysSet = true;
  private long firstMin = Long.MAX_VALUE;
  private long firstMax = Long.MIN_VALUE;
  /** The integer first column's values in row order, for the file's {@link KeyIndex}; null: no index. */
  private long[] indexKeys;
  private final boolean indexed;

  /** Where predictions are written as values: the run's columns and the kernel's labels. */
  private final RunColumns valueColumns;
  private final List<String> valueLabels;

  /** @param table the name the driver knows the table by ({@link TaskOutput.WrittenFile#table}) */
  public TaskFile(String table, TableFiles files, int partition, int attempt, long taskAttempt) {
    this(table, files, partition, attempt, taskAttempt, null, null);
  }

  /**
   * A predictions file written as values ({@link PredictionColumns}), where
   * {@link TableFiles#takesValues} the run.
   *
   * @param labels the kernel's labels, by index (a top-k kernel's: the reference ids)
   */
  public static TaskFile forPredictions(String table, TableFiles files, int partition, int attempt, long taskAttempt,
      RunColumns columns, List<String> labels) {
    return new TaskFile(table, files, partition, attempt, taskAttempt, columns, labels, columns.nightly());
  }

  /**
   * A predictions file written as rows, with a {@link KeyIndex} of its integer first column (the
   * id) where {@code indexed}: a night's, whose later nights find its rows by id.
   */
  public static TaskFile forPredictionRows(String table, TableFiles files, int partition, int attempt,
      long taskAttempt, boolean indexed) {
    return new TaskFile(table, files, partition, attempt, taskAttempt, null, null, indexed);
  }

  private TaskFile(String table, TableFiles files, int partition, int attempt, long taskAttempt,
      RunColumns valueColumns, List<String> valueLabels) {
    this(table, files, partition, attempt, taskAttempt, valueColumns, valueLabels, false);
  }

  private TaskFile(String table, TableFiles files, int partition, int attempt, long taskAttempt,
      RunColumns valueColumns, List<String> valueLabels, boolean indexed) {
    this.valueColumns = valueColumns;
    this.valueLabels = valueLabels;
    this.table = table;
    this.files = files;
    this.partition = partition;
    this.attempt = attempt;
    this.taskAttempt = taskAttempt;
    org.apache.spark.sql.types.DataType first = files.schema().fields().length == 0 ? null
        : files.schema().fields()[0].dataType();
    integerFirst = TaskOutput.IntegerRange.tracks(first) ? first : null;
    this.indexed = indexed && integerFirst != null;
    indexKeys = this.indexed ? new long[1024] : null;
  }

  public void write(InternalRow row) {
    if (open == null) {
      open = files.open(partition, attempt, taskAttempt);
    }
    open.rows().write(row);
    rows++;
    if (integerFirst != null && firstAlwaysSet) {
      if (row.isNullAt(0)) {
        firstAlwaysSet = false;
      } else {
        track(integerFirst instanceof org.apache.spark.sql.types.LongType ? row.getLong(0)
            : integerFirst instanceof org.apache.spark.sql.types.IntegerType ? row.getInt(0)
            : integerFirst instanceof org.apache.spark.sql.types.ShortType ? row.getShort(0) : row.getByte(0));
      }
    }
  }

  /**
   * A class kernel's prediction ({@link PredictionColumns#writeClasses}): the id as the input
   * gives it (Long, Integer or String, or null), the label's index, the score, and
   * {@code scores[from, from + width)} or null.
   */
  public void writePrediction(Object id, int label, float score, float[] scores, int from, int width) {
    values().writeClasses(id, label, score, scores, from, width);
    counted(id);
  }

  /** A top-k kernel's prediction ({@link PredictionColumns#writeNeighbors}). */
  public void writeNeighbors(Object id, int label, float score, int[] indices, float[] scores, int from, int k) {
    values().writeNeighbors(id, label, score, indices, scores, from, k);
    counted(id);
  }

  private PredictionColumns values() {
    if (open == null) {
      open = files.openValues(partition, attempt, taskAttempt, valueColumns, valueLabels);
    }
    return open.values();
  }

  private void counted(Object id) {
    rows++;
    if (integerFirst != null && firstAlwaysSet) {
      if (id == null) {
        firstAlwaysSet = false;
      } else {
        track(((Number) id).longValue());
      }
    }
  }

  private void track(long v) {
    firstMin = Math.min(firstMin, v);
    firstMax = Math.max(firstMax, v);
    if (indexKeys != null) {
      int at = (int) rows - 1; // rows counts this row already
      if (at >= indexKeys.length) {
        indexKeys = at >= KeyIndex.MAX_ROWS ? null : java.util.Arrays.copyOf(indexKeys,
            (int) Math.min(KeyIndex.MAX_ROWS, 2L * indexKeys.length));
      }
      if (indexKeys != null) {
        indexKeys[at] = v;
      }
    }
  }

  /** Closes the file, if one was opened, and adds it to {@code out}. */
  public void close(List<TaskOutput.WrittenFile> out) throws IOException {
    if (open == null) {
      return;
    }
    open.finish();
    org.apache.hadoop.fs.FileStatus s = open.status();
    if (indexKeys != null && firstAlwaysSet) {
      try {
        KeyIndex.write(open.conf(), new org.apache.hadoop.fs.Path(open.path()), s.getLen(), s.getModificationTime(),
            files.schema().fields()[0].name(), indexKeys, (int) rows);
      } catch (IOException | RuntimeException e) {
        // only an accelerator: the file's keys are read from it instead (a partial index is ignored)
      }
    }
    out.add(new TaskOutput.WrittenFile(table, open.name(), open.path(), s.getLen(), s.getModificationTime(), rows,
        integerFirst != null && firstAlwaysSet ? new TaskOutput.IntegerRange(firstMin, firstMax) : null));
    indexKeys = indexed ? new long[1024] : null;
    open = null;
    rows = 0; // counts of the file just reported; no caller writes after close
    firstAlwaysSet = true;
    firstMin = Long.MAX_VALUE;
    firstMax = Long.MIN_VALUE;
  }

  /** Best effort, for a failed task: the file is deleted (it would never be committed). */
  public void abort() {
    if (open != null) {
      open.abandon();
      open.delete();
      open = null;
    }
  }
}
