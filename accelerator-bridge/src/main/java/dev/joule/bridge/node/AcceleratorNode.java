package dev.joule.bridge.node;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * A node in this JVM that holds kernels and scores batches on the calling thread. Executors do
 * not call it directly: they go through a {@link NodeTransport}, the in-process one wrapping this,
 * or the Flight one, whose nodes ({@code flight.AcceleratorNodeServer}) run in other processes.
 *
 * <p>Kernels are pushed once and addressed by the SHA-256 of their Arrow IPC bytes; pushing the
 * same bytes again is free. Implementations must be thread-safe: Spark runs several partitions
 * of one executor at once.
 */
public interface AcceleratorNode extends AutoCloseable {

  /** Stable id of this node, recorded in every energy row it contributed to. */
  String nodeId();

  /** Stores a kernel and returns its id (SHA-256 of {@code kernelIpc}). Idempotent. */
  String pushKernel(byte[] kernelIpc);

  boolean hasKernel(String kernelId);

  /**
   * Scores one request batch with a kernel already pushed.
   *
   * @param request a batch in {@link dev.joule.bridge.BridgeBatches} request layout; not closed
   * @param replyAllocator allocator the response is created in; the caller closes the reply
   * @throws UnknownKernelException if the kernel id is not on this node (push it, then retry)
   */
  ScoreReply score(String kernelId, VectorSchemaRoot request, BufferAllocator replyAllocator);

  @Override
  void close();
}
