package dev.joule.udfs.files;

import dev.joule.bridge.node.ScoredBatch;
import dev.joule.udfs.KernelInfo;
import dev.joule.udfs.PartitionScorer;
import dev.joule.udfs.ScoredRowSink;
import dev.joule.udfs.ScoringPass;
import dev.joule.udfs.ScoringSpec;
import dev.joule.udfs.input.ColumnarInput;
import dev.joule.udfs.input.PartitionInput;
import dev.joule.udfs.input.RowInput;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.catalyst.CatalystTypeConverters;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.catalyst.util.GenericArrayData;
import org.apache.spark.sql.vectorized.ColumnarBatch;
import org.apache.spark.unsafe.Platform;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Scores one partition ({@link ScoringPass}) and writes its predictions and rejects straight
 * into the data files of their Delta tables ({@link TableFiles}) as Spark's internal rows; returns
 * one {@link TaskOutput} (counts, reasons, energy record, files) and no rows. Each row is written
 * once, and the driver reconciles from the outputs without reading any file back.
 *
 * @param <T> what the partition is read as: Spark's rows, or the scan's columnar batches
 */
public final class PartitionFiles<T> implements FlatMapFunction<Iterator<T>, TaskOutput> {

  private static final long serialVersionUID = 1L;
  public static final String PREDICTIONS = "predictions";
  public static final String REJECTS = "rejects";

  /** Opens a task's partition as the scorer reads it. */
  public interface Reader<T> extends Serializable {
    PartitionInput open(Iterator<T> partition);
  }

  private final ScoringSpec spec;
  private final Reader<T> reader;
  private final RunColumns columns;
  private final TableFiles predictions;
  private final TableFiles rejects;
  private final long failFirstAttemptAfter;

  /**
   * @param failFirstAttemptAfter testing hook: the first attempt of partition 0 fails after
   *     writing this many predictions (-1: never), so that a test sees Spark retry it
   */
  private PartitionFiles(ScoringSpec spec, Reader<T> reader, RunColumns columns, TableFiles predictions,
      TableFiles rejects, long failFirstAttemptAfter) {
    this.spec = spec;
    this.reader = reader;
    this.columns = columns;
    this.predictions = predictions;
    this.rejects = rejects;
    this.failFirstAttemptAfter = failFirstAttemptAfter;
  }

  /** Reads Spark's rows, in the scorer's column order. */
  public static PartitionFiles<InternalRow> ofRows(ScoringSpec spec, RunColumns columns, TableFiles predictions,
      TableFiles rejects, long failFirstAttemptAfter) {
    return new PartitionFiles<>(spec, RowInput::new, columns, predictions, rejects, failFirstAttemptAfter);
  }

  /**
   * Reads the scan's columnar batches.
   *
   * @param scanColumns for each column the scorer reads, in its order, its ordinal in the batches
   * @param filter the plan's filter of the scan's rows, or null
   */
  public static PartitionFiles<ColumnarBatch> ofColumnar(ScoringSpec spec, int[] scanColumns,
      dev.joule.udfs.input.ScanFilter filter, RunColumns columns, TableFiles predictions, TableFiles rejects,
      long failFirstAttemptAfter) {
    int[] ordinals = scanColumns.clone();
    return new PartitionFiles<>(spec, batches -> new ColumnarInput(batches, ordinals, filter == null ? null
        : filter.open(TaskContext.get() == null ? 0 : TaskContext.get().partitionId())), columns, predictions,
        rejects, failFirstAttemptAfter);
  }

  @Override
  public Iterator<TaskOutput> call(Iterator<T> input) throws Exception {
    TaskContext task = TaskContext.get();
    int partition = task == null ? 0 : task.partitionId();
    int attempt = task == null ? 0 : task.attemptNumber();
    long taskAttempt = task == null ? 0 : task.taskAttemptId();
    boolean values = predictions.takesValues(columns);
    Writer out = new Writer(spec.kernel(), spec.keepScores(), columns, values,
        values ? TaskFile.forPredictions(PREDICTIONS, predictions, partition, attempt, taskAttempt, columns,
            spec.kernel().labels())
            : TaskFile.forPredictionRows(PREDICTIONS, predictions, partition, attempt, taskAttempt, columns.nightly()),
        new TaskFile(REJECTS, rejects, partition, attempt, taskAttempt),
        partition == 0 && attempt == 0 ? failFirstAttemptAfter : -1);
    ScoringPass pass = new ScoringPass(spec, reader.open(input), PartitionScorer.transport(spec), task);
    List<TaskOutput.WrittenFile> files = new ArrayList<>();
    org.apache.spark.sql.Row energy;
    try {
      pass.emitAll(out);
      out.predictions.close(files);
      out.rejects.close(files);
      energy = pass.energyRow(files.stream().mapToLong(TaskOutput.WrittenFile::bytes).sum());
    } catch (Exception | Error e) {
      out.predictions.abort();
      out.rejects.abort();
      throw e;
    }
    return List.of(new TaskOutput(partition, attempt, pass.rowsIn(), out.scored, out.rejected, out.reasons,
        out.examples, energy, files, pass.sampled(), out.ids)).iterator();
  }

  /**
   * The scorer's rows with the run's constant columns, written and counted: predictions as
   * values where the run has no passthrough columns ({@link TaskFile#writePrediction}), else and
   * rejects as internal rows.
   */
  private static final class Writer implements ScoredRowSink {
    private final KernelInfo kernel;
    private final boolean keepScores;
    private final boolean values;
    private final TaskFile predictions;
    private final TaskFile rejects;
    private final long failAfter;
    private final UTF8String runId;
    private final UTF8String modelId;
    private final UTF8String modelVersion;
    private final UTF8String kernelId;
    private final long scoredAt;
    /** A night's columns: tombstone on predictions, run_key on rejects. */
    private final boolean nightly;
    private final UTF8String runKey;
    /** The ids of the predictions written, when the run keeps them (else null). */
    final List<Object> ids;
    private final scala.Function1<Object, Object> id;
    /** Labels as Spark strings, made on first use: a top-k kernel has one per reference row. */
    private final UTF8String[] labels;
    private long scored;
    private long rejected;
    private final Map<String, Long> reasons = new TreeMap<>();
    private final Map<String, String> examples = new TreeMap<>();

    Writer(KernelInfo kernel, boolean keepScores, RunColumns c, boolean values, TaskFile predictions,
        TaskFile rejects, long failAfter) {
      this.kernel = kernel;
      this.keepScores = keepScores;
      this.values = values;
      this.predictions = predictions;
      this.rejects = rejects;
      this.failAfter = failAfter;
      runId = UTF8String.fromString(c.runId());
      modelId = UTF8String.fromString(c.modelId());
      modelVersion = UTF8String.fromString(c.modelVersion());
      kernelId = UTF8String.fromString(c.kernel());
      scoredAt = c.scoredAtMicros();
      nightly = c.nightly();
      runKey = nightly ? UTF8String.fromString(c.runKey()) : null;
      ids = c.keepIds() ? new ArrayList<>() : null;
      id = CatalystTypeConverters.createToCatalystConverter(c.idType());
      labels = new UTF8String[kernel.labels().size()];
    }

    private UTF8String label(int i) {
      UTF8String l = labels[i];
      if (l == null) {
        l = UTF8String.fromString(kernel.labels().get(i));
        labels[i] = l;
      }
      return l;
    }

    @Override
    public void prediction(Object rowId, ScoredBatch b, int r, Object[] passthrough) {
      int width = b.width();
      if (values && b.indices() != null) {
        predictions.writeNeighbors(rowId, b.labels()[r], b.best()[r], b.indices(), b.scores(), r * width, width);
      } else if (values) {
        predictions.writePrediction(rowId, b.labels()[r], b.best()[r], keepScores ? b.scores() : null, r * width,
            width);
      } else {
        predictions.write(internalRow(rowId, b, r, passthrough, width));
      }
      if (ids != null) {
        ids.add(rowId);
      }
      scored++;
      if (scored == failAfter) {
        throw new IllegalStateException("injected failure after " + scored + " rows in the first attempt of "
            + "partition 0 (testing hook joule.testing.fail-first-attempt-after-rows)");
      }
    }

    private InternalRow internalRow(Object rowId, ScoredBatch b, int r, Object[] passthrough, int width) {
      int fixed = nightly ? 11 : 10;
      Object[] v = new Object[fixed + (passthrough == null ? 0 : passthrough.length)];
      v[0] = id.apply(rowId);
      v[1] = modelId;
      v[2] = modelVersion;
      v[3] = kernelId;
      v[4] = label(b.labels()[r]);
      v[5] = b.best()[r];
      if (b.indices() != null) {
        Object[] n = new Object[width];
        for (int j = 0; j < width; j++) {
          n[j] = new GenericInternalRow(new Object[] {label(b.indices()[r * width + j]), b.scores()[r * width + j]});
        }
        v[7] = new GenericArrayData(n);
      } else if (keepScores) {
        v[6] = UnsafeArrayData.fromPrimitiveArray(b.scores(), Platform.FLOAT_ARRAY_OFFSET + 4 * r * width, width, 4);
      }
      v[8] = runId;
      v[9] = scoredAt;
      if (nightly) {
        v[10] = false; // tombstone
      }
      if (passthrough != null) {
        System.arraycopy(passthrough, 0, v, fixed, passthrough.length);
      }
      return new GenericInternalRow(v);
    }

    @Override
    public void reject(Object rowId, String reason) {
      rejects.write(new GenericInternalRow(nightly
          ? new Object[] {id.apply(rowId), UTF8String.fromString(reason), runId, modelId, kernelId, runKey}
          : new Object[] {id.apply(rowId), UTF8String.fromString(reason), runId, modelId, kernelId}));
      rejected++;
      int colon = reason.indexOf(':');
      String code = colon < 0 ? reason : reason.substring(0, colon);
      reasons.merge(code, 1L, Long::sum);
      examples.putIfAbsent(code, reason);
    }
  }
}
