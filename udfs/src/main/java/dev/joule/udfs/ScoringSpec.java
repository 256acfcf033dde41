package dev.joule.udfs;

import dev.joule.bridge.kernel.Precision;
import java.io.Serializable;
import java.util.List;

/**
 * Everything a partition needs to score, shipped once per task in the closure. The kernel travels
 * as its Arrow IPC bytes and is pushed to the node only if the node lacks its id.
 *
 * @param failPartition testing hook: the partition with this index throws half-way; -1 = never
 */
public record ScoringSpec(String runId, String job, byte[] kernelBytes, String kernelId,
    String kernelName, List<String> labels, Precision precision, int dim, IdColumn idColumn,
    EmbeddingColumn.Layout layout, int batchRows, long maxBatchBytes, boolean keepScores,
    EnergySpec energy, int failPartition) implements Serializable {

  public ScoringSpec {
    labels = List.copyOf(labels);
    if (batchRows < 1) {
      throw new IllegalArgumentException("batch rows must be >= 1, got " + batchRows);
    }
    if (maxBatchBytes < 1) {
      throw new IllegalArgumentException("max batch bytes must be >= 1, got " + maxBatchBytes);
    }
  }

  /** Rows per Arrow batch: the configured count, lowered so a batch stays under the byte bound. */
  public int effectiveBatchRows() {
    long rowBytes = precision.rowBytes(dim) + (precision == Precision.FP32 ? 0 : 4);
    return (int) Math.max(1, Math.min(batchRows, maxBatchBytes / Math.max(1, rowBytes)));
  }
}
