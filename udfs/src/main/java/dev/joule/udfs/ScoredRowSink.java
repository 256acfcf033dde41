package dev.joule.udfs;

import dev.joule.bridge.node.ScoredBatch;

/**
 * Where a scored partition's rows go as they come out of a {@link ScoringPass}: straight into the
 * output tables' files as Spark's internal rows ({@code files.PartitionFiles}), or as staged
 * Spark rows ({@link PartitionScorer}). Every input row reaches the sink once, as one call.
 */
public interface ScoredRowSink {

  /**
   * A scored row: row {@code row} of {@code batch}.
   *
   * @param passthrough the row's passthrough columns as Spark's internal values (copied out of
   *     the input), or null when the run carries none
   */
  void prediction(Object id, ScoredBatch batch, int row, Object[] passthrough);

  /** A row that was not scored, with its reason ({@code code: detail}). */
  void reject(Object id, String reason);
}
