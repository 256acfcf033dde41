package dev.joule.bridge.node;

import org.apache.arrow.vector.VectorSchemaRoot;

/** A response batch and the node's reading for it. Closing releases the batch. */
public record ScoreReply(VectorSchemaRoot scores, NodeReading reading) implements AutoCloseable {
  @Override
  public void close() {
    scores.close();
  }
}
