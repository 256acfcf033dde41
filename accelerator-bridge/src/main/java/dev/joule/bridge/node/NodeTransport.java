package dev.joule.bridge.node;

import org.apache.arrow.memory.BufferAllocator;

/**
 * How an executor reaches accelerator nodes: the node in its own JVM ({@link InProcessTransport})
 * or a pool of Flight nodes ({@code dev.joule.bridge.flight.FlightTransport}). One transport is
 * shared by every task of an executor; each partition opens its own channel.
 */
public interface NodeTransport extends AutoCloseable {

  /**
   * Opens a channel for one partition. The kernel is pushed to a node the first time that node
   * is used for it.
   *
   * @param allocator the partition's allocator; request batches sent on the channel live in it
   */
  PartitionChannel open(KernelHandle kernel, BufferAllocator allocator);

  /** A short description for logs and run records, e.g. {@code in-process} or {@code flight(2 nodes)}. */
  String describe();

  @Override
  void close();
}
