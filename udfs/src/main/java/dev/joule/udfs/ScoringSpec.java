package dev.joule.udfs;

import dev.joule.bridge.flight.BridgeSettings;
import java.io.Serializable;
import org.apache.spark.sql.types.StructType;

/**
 * Everything a partition needs to score, shipped once per task in the closure. The kernel travels
 * as its Arrow IPC bytes and is pushed to the node only if the node lacks its id.
 *
 * @param layout how the input holds rows: an embedding layout, or {@code null} for a codes table
 *     ({@code id, codes, scale, norm[, precision]} at {@code kernel.rowPrecision()}; a row whose
 *     precision is another is rejected)
 * @param failPartition testing hook: the partition with this index throws half-way; -1 = never
 * @param batchDelayMs testing hook: a partition waits this long after each batch it sends, so
 *     a test can kill an executor while batches are in flight; 0 = never
 * @param bridge the Flight nodes to score on, or null for the in-process node
 * @param accumulators the run's named accumulators (Spark UI), or null
 * @param passthrough input columns that follow the scored ones in each input row and are carried,
 *     untouched, to the row's prediction (never to the kernel); null or empty: none
 * @param duplicates ids on more than one input row: each such row is a reject; null: none
 * @param gateSample the rows of the quality gate's sample: the task keeps the answer it
 *     published for each, and for embedding input its fp32 values ({@link SampledRows}); null: none
 */
public record ScoringSpec(String runId, String job, KernelInfo kernel, IdColumn idColumn,
    EmbeddingColumn.Layout layout, int batchRows, long maxBatchBytes, boolean keepScores,
    EnergySpec energy, int failPartition, BridgeSettings bridge, EnergyAccumulators accumulators,
    long batchDelayMs, StructType passthrough, DuplicateIds duplicates, GateSample gateSample)
    implements Serializable {

  public ScoringSpec(String runId, String job, KernelInfo kernel, IdColumn idColumn,
      EmbeddingColumn.Layout layout, int batchRows, long maxBatchBytes, boolean keepScores,
      EnergySpec energy, int failPartition, BridgeSettings bridge, EnergyAccumulators accumulators,
      long batchDelayMs, StructType passthrough, DuplicateIds duplicates) {
    this(runId, job, kernel, idColumn, layout, batchRows, maxBatchBytes, keepScores, energy,
        failPartition, bridge, accumulators, batchDelayMs, passthrough, duplicates, GateSample.NONE);
  }

  public ScoringSpec(String runId, String job, KernelInfo kernel, IdColumn idColumn,
      EmbeddingColumn.Layout layout, int batchRows, long maxBatchBytes, boolean keepScores,
      EnergySpec energy, int failPartition, BridgeSettings bridge, EnergyAccumulators accumulators,
      long batchDelayMs, StructType passthrough) {
    this(runId, job, kernel, idColumn, layout, batchRows, maxBatchBytes, keepScores, energy,
        failPartition, bridge, accumulators, batchDelayMs, passthrough, DuplicateIds.NONE);
  }

  public ScoringSpec(String runId, String job, KernelInfo kernel, IdColumn idColumn,
      EmbeddingColumn.Layout layout, int batchRows, long maxBatchBytes, boolean keepScores,
      EnergySpec energy, int failPartition, BridgeSettings bridge, EnergyAccumulators accumulators,
      long batchDelayMs) {
    this(runId, job, kernel, idColumn, layout, batchRows, maxBatchBytes, keepScores, energy,
        failPartition, bridge, accumulators, batchDelayMs, null);
  }

  public ScoringSpec(String runId, String job, KernelInfo kernel, IdColumn idColumn,
      EmbeddingColumn.Layout layout, int batchRows, long maxBatchBytes, boolean keepScores,
      EnergySpec energy, int failPartition, BridgeSettings bridge, EnergyAccumulators accumulators) {
    this(runId, job, kernel, idColumn, layout, batchRows, maxBatchBytes, keepScores, energy,
        failPartition, bridge, accumulators, 0);
  }

  /** Without accumulators (outside a Spark job). */
  public ScoringSpec(String runId, String job, KernelInfo kernel, IdColumn idColumn,
      EmbeddingColumn.Layout layout, int batchRows, long maxBatchBytes, boolean keepScores,
      EnergySpec energy, int failPartition, BridgeSettings bridge) {
    this(runId, job, kernel, idColumn, layout, batchRows, maxBatchBytes, keepScores, energy,
        failPartition, bridge, null);
  }

  public ScoringSpec {
    duplicates = duplicates == null ? DuplicateIds.NONE : duplicates;
    gateSample = gateSample == null ? GateSample.NONE : gateSample;
    if (batchRows < 1) {
      throw new IllegalArgumentException("batch rows must be >= 1, got " + batchRows);
    }
    if (maxBatchBytes < 1) {
      throw new IllegalArgumentException("max batch bytes must be >= 1, got " + maxBatchBytes);
    }
    if (layout == null && kernel.rescorePrecision() != null) {
      throw new IllegalArgumentException("kernel " + kernel.name() + " rescores at "
          + kernel.rescorePrecision() + ", which needs the embeddings, not a codes table");
    }
  }

  /** Input columns carried to predictions: 0 when none. */
  public int passthroughCount() {
    return passthrough == null ? 0 : passthrough.size();
  }

  public boolean fromCodes() {
    return layout == null;
  }

  public int dim() {
    return kernel.dim();
  }

  /** Rows per Arrow batch: the configured count, lowered so a batch stays under the byte bound. */
  public int effectiveBatchRows() {
    long rowBytes = kernel.sentBytesPerRow();
    return (int) Math.max(1, Math.min(batchRows, maxBatchBytes / rowBytes));
  }
}
