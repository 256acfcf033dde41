package dev.joule.bridge.node;

import dev.joule.bridge.kernel.EncodedRows;
import java.util.List;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * The batches of one partition on their way to a node and back, all for one kernel. Results are
 * handed over only by {@link #finish()}, once every batch has been answered: a transport that
 * fails over re-sends what was not answered, so the caller never sees a batch twice or half a
 * partition.
 */
public interface PartitionChannel extends AutoCloseable {

  /** Queues a request batch of {@code rows} rows; the channel owns it from here and closes it. */
  void send(VectorSchemaRoot request, int rows);

  /**
   * Queues a batch of rows as the executor encoded them. The channel has read them when this
   * returns, so the caller may reuse their arrays: a node in this JVM scores them as they are,
   * a remote one gets them as an Arrow request batch ({@link dev.joule.bridge.BridgeBatches}),
   * Arrow being only for bytes that cross a process.
   */
  void send(EncodedRows rows);

  /**
   * Waits for every batch sent and returns their results in the order sent.
   *
   * @throws NodeException if the batches could not be scored anywhere allowed
   */
  List<ScoredBatch> finish();

  /** Ids of the nodes that answered batches of this partition, in the order they first did. */
  List<String> nodeIds();

  /** Batches scored in this JVM after every node failed ({@code fallback = in-process}). */
  int fallbackBatches();

  /** Times the channel moved to another node (or to the fallback) after a failure. */
  int failovers();

  /** Releases every batch still held; safe to call more than once and after a failure. */
  @Override
  void close();
}
