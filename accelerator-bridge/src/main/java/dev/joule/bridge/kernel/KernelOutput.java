package dev.joule.bridge.kernel;

/**
 * What a kernel writes for a batch: {@code width} scores per row and, for neighbour kernels, the
 * index (into the kernel's labels, i.e. reference ids) of each score. Reusable across batches.
 */
public final class KernelOutput {
  private final int width;
  private final boolean withIndices;
  private float[] scores = new float[0];
  private int[] indices = new int[0];
  private int rows;

  public KernelOutput(int width, boolean withIndices) {
    this.width = width;
    this.withIndices = withIndices;
  }

  /** Prepares room for {@code rows} rows. */
  public KernelOutput reset(int rows) {
    this.rows = rows;
    if (scores.length < rows * width) {
      scores = new float[rows * width];
      if (withIndices) {
        indices = new int[rows * width];
      }
    }
    return this;
  }

  public int rows() {
    return rows;
  }

  public int width() {
    return width;
  }

  public float[] scores() {
    return scores;
  }

  /** Neighbour indices, or null for class-score kernels. */
  public int[] indices() {
    return withIndices ? indices : null;
  }

  /**
   * The column of row {@code r}'s best score: the argmax for class kernels (the first on ties),
   * 0 for neighbour kernels, whose scores are written best first.
   */
  public int bestColumn(int r) {
    return withIndices ? 0 : argmax(scores, r * width, width);
  }

  /** Index of the largest value in {@code a[off, off+n)}; the first one on ties. */
  public static int argmax(float[] a, int off, int n) {
    int best = 0;
    for (int j = 1; j < n; j++) {
      if (a[off + j] > a[off + best]) {
        best = j;
      }
    }
    return best;
  }
}
