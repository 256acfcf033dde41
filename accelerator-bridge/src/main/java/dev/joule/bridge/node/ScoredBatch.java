package dev.joule.bridge.node;

import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * The answer to one request batch, copied out of its Arrow response onto the heap so the
 * response's buffers can go back at once while the partition waits for its other batches.
 *
 * @param labels index of the top class, or of the best neighbour's reference row
 * @param best the top score per row
 * @param scores {@code rows × width} scores, row-major
 * @param indices {@code rows × width} reference-row indices for neighbour kernels, else null
 */
public record ScoredBatch(int rows, int width, int[] labels, float[] best, float[] scores,
    int[] indices, NodeReading reading) {

  /**
   * Copies a response in {@link dev.joule.bridge.BridgeBatches} layout, checking it answers
   * {@code expectedRows} rows of {@code width} scores (a node is not trusted to get that right).
   */
  public static ScoredBatch copyOf(VectorSchemaRoot response, int expectedRows, int width,
      boolean neighbors, NodeReading reading) {
    int n = response.getRowCount();
    if (n != expectedRows) {
      throw new IllegalStateException("node " + reading.nodeId() + " answered " + n
          + " rows for a batch of " + expectedRows);
    }
    IntVector label = (IntVector) vector(response, "label", reading);
    Float4Vector score = (Float4Vector) vector(response, "score", reading);
    FixedSizeListVector all = (FixedSizeListVector) vector(response, "scores", reading);
    if (all.getListSize() != width) {
      throw new IllegalStateException("node " + reading.nodeId() + " answered " + all.getListSize()
          + " scores per row, the kernel has " + width);
    }
    int[] labels = new int[n];
    float[] best = new float[n];
    for (int r = 0; r < n; r++) {
      labels[r] = label.get(r);
      best[r] = score.get(r);
    }
    float[] scores = new float[n * width];
    if (all.getDataVector().getValueCount() < scores.length) {
      throw new IllegalStateException("node " + reading.nodeId() + " answered " + all.getDataVector().getValueCount()
          + " scores for " + n + " rows of " + width);
    }
    dev.joule.bridge.kernel.KernelCodec.readFloatList(all, n, width, scores);
    int[] indices = null;
    if (neighbors) {
      IntVector idx = (IntVector) ((FixedSizeListVector) vector(response, "indices", reading)).getDataVector();
      indices = new int[n * width];
      for (int i = 0; i < indices.length; i++) {
        indices[i] = idx.get(i);
      }
    }
    return new ScoredBatch(n, width, labels, best, scores, indices, reading);
  }

  /**
   * A kernel's output scored in this JVM, taken as it is: no Arrow response, no copy ({@code out}
   * must not be reused). Labels and best scores are read as {@link
   * dev.joule.bridge.BridgeBatches#toResponse} writes them, so both paths answer alike.
   */
  public static ScoredBatch of(dev.joule.bridge.kernel.KernelOutput out, NodeReading reading) {
    int n = out.rows();
    int width = out.width();
    int[] idx = out.indices();
    float[] s = out.scores();
    int[] labels = new int[n];
    float[] best = new float[n];
    for (int r = 0; r < n; r++) {
      int c = out.bestColumn(r);
      labels[r] = idx != null ? idx[r * width] : c;
      best[r] = s[r * width + c];
    }
    return new ScoredBatch(n, width, labels, best, s, idx, reading);
  }

  private static FieldVector vector(VectorSchemaRoot root, String name, NodeReading reading) {
    FieldVector v = root.getVector(name);
    if (v == null) {
      throw new IllegalStateException("node " + reading.nodeId() + " answered without a '" + name + "' column");
    }
    return v;
  }
}
