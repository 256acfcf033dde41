package dev.joule.udfs.files;

import dev.joule.udfs.PartitionScorer;
import dev.joule.udfs.StagedRows;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.CatalystTypeConverters;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Scores one partition ({@link PartitionScorer}) and writes its predictions and rejects straight
 * into the data files of their Delta tables ({@link TableFiles}); returns one {@link TaskOutput}
 * (counts, reasons, energy record, files) and no rows. Each row is written once, and the driver
 * reconciles from the outputs without reading any file back.
 */
public final class PartitionFiles implements FlatMapFunction<Iterator<InternalRow>, TaskOutput> {

  private static final long serialVersionUID = 1L;
  public static final String PREDICTIONS = "predictions";
  public static final String REJECTS = "rejects";

  private final PartitionScorer scorer;
  private final RunColumns columns;
  private final TableFiles predictions;
  private final TableFiles rejects;
  private final long failFirstAttemptAfter;

  /**
   * @param failFirstAttemptAfter testing hook: the first attempt of partition 0 fails after
   *     writing this many predictions (-1: never), so that a test sees Spark retry it
   */
  public PartitionFiles(PartitionScorer scorer, RunColumns columns, TableFiles predictions, TableFiles rejects,
      long failFirstAttemptAfter) {
    this.scorer = scorer;
    this.columns = columns;
    this.predictions = predictions;
    this.rejects = rejects;
    this.failFirstAttemptAfter = failFirstAttemptAfter;
  }

  @Override
  public Iterator<TaskOutput> call(Iterator<InternalRow> input) throws Exception {
    TaskContext task = TaskContext.get();
    int partition = task == null ? 0 : task.partitionId();
    int attempt = task == null ? 0 : task.attemptNumber();
    long taskAttempt = task == null ? 0 : task.taskAttemptId();
    TaskFile preds = new TaskFile(PREDICTIONS, predictions, partition, attempt, taskAttempt);
    TaskFile rejs = new TaskFile(REJECTS, rejects, partition, attempt, taskAttempt);
    Rows rows = new Rows(columns);
    long scored = 0;
    long rejected = 0;
    Map<String, Long> reasons = new TreeMap<>();
    Map<String, String> examples = new TreeMap<>();
    Row energy = null;
    List<TaskOutput.WrittenFile> files = new ArrayList<>();
    Iterator<Row> staged;
    try {
      staged = scorer.call(input);
      while (staged.hasNext()) {
        Row r = staged.next();
        switch (r.getString(0)) {
          case StagedRows.PREDICTION -> {
            preds.write(rows.prediction(r));
            scored++;
            if (scored == failFirstAttemptAfter && partition == 0 && attempt == 0) {
              throw new IllegalStateException("injected failure after " + scored + " rows in the first attempt of "
                  + "partition 0 (testing hook joule.testing.fail-first-attempt-after-rows)");
            }
          }
          case StagedRows.REJECT -> {
            String reason = r.getString(6);
            rejs.write(rows.reject(r));
            rejected++;
            int colon = reason.indexOf(':');
            String code = colon < 0 ? reason : reason.substring(0, colon);
            reasons.merge(code, 1L, Long::sum);
            examples.putIfAbsent(code, reason);
          }
          default -> energy = r.getStruct(7);
        }
      }
      preds.close(files);
      rejs.close(files);
    } catch (Exception | Error e) {
      preds.abort();
      rejs.abort();
      throw e;
    }
    long rowsIn = energy == null ? scored + rejected : energy.<Long>getAs("rows_in");
    dev.joule.udfs.SampledRows sampled = staged instanceof PartitionScorer.Sampling s ? s.sampled()
        : dev.joule.udfs.SampledRows.empty();
    return List.of(new TaskOutput(partition, attempt, rowsIn, scored, rejected, reasons, examples, energy, files,
        sampled)).iterator();
  }

  /** Staged rows (external) → the tables' internal rows, with the run's constant columns. */
  private static final class Rows {
    private final UTF8String runId;
    private final UTF8String modelId;
    private final UTF8String modelVersion;
    private final UTF8String kernel;
    private final long scoredAt;
    private final scala.Function1<Object, Object> id;
    private final scala.Function1<Object, Object> neighbors;
    private final scala.Function1<Object, Object>[] pass;

    @SuppressWarnings("unchecked")
    Rows(RunColumns c) {
      runId = UTF8String.fromString(c.runId());
      modelId = UTF8String.fromString(c.modelId());
      modelVersion = UTF8String.fromString(c.modelVersion());
      kernel = UTF8String.fromString(c.kernel());
      scoredAt = c.scoredAtMicros();
      id = CatalystTypeConverters.createToCatalystConverter(c.idType());
      neighbors = CatalystTypeConverters.createToCatalystConverter(StagedRows.NEIGHBORS);
      pass = new scala.Function1[c.passthrough().size()];
      for (int i = 0; i < pass.length; i++) {
        DataType t = c.passthrough().fields()[i].dataType();
        pass[i] = CatalystTypeConverters.createToCatalystConverter(t);
      }
    }

    InternalRow prediction(Row r) {
      Object[] v = new Object[10 + pass.length];
      v[0] = id.apply(r.get(1));
      v[1] = modelId;
      v[2] = modelVersion;
      v[3] = kernel;
      v[4] = r.isNullAt(2) ? null : UTF8String.fromString(r.getString(2));
      v[5] = r.get(3);
      v[6] = r.isNullAt(4) ? null : UnsafeArrayData.fromPrimitiveArray((float[]) r.get(4));
      v[7] = r.isNullAt(5) ? null : neighbors.apply(r.get(5));
      v[8] = runId;
      v[9] = scoredAt;
      if (pass.length > 0) {
        Row p = r.getStruct(8);
        for (int i = 0; i < pass.length; i++) {
          v[10 + i] = p == null || p.isNullAt(i) ? null : pass[i].apply(p.get(i));
        }
      }
      return new GenericInternalRow(v);
    }

    InternalRow reject(Row r) {
      return new GenericInternalRow(new Object[] {id.apply(r.get(1)), UTF8String.fromString(r.getString(6)), runId,
          modelId, kernel});
    }
  }
}
