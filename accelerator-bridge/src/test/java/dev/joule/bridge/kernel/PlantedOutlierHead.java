package dev.joule.bridge.kernel;

import java.util.SplittableRandom;

/**
 * A seeded classifier head and the rows it scores (issue 17): {@link #fitted} plants the outliers
 * in the data and lets an MLlib-style fit turn them into outlier weights; {@link #embeddings} is
 * the dense, normalized counterpart.
 *
 * <p>Planted rows are sparse, non-negative and unnormalized: each column has its own typical
 * count (lognormal); each row belongs to a class, whose profile makes about a quarter of the
 * common columns likely to be active (40% against 10%); an active entry is its column's count
 * times {@code 1 + Geometric(0.3)}, and one in 25 is a burst 5–20 times larger. One column in 16
 * is rare: active in 3% of its owning class's rows and 0.2% of the others'. The head is fitted
 * by {@link SoftmaxFit} (standardized, unregularized, mapped back to raw units), which gives the
 * rare columns weights ~100× the median.
 */
record PlantedOutlierHead(int classes, int dim, float[][] w, float[] bias, int rows, float[] x) {

  /**
   * Rows as above, labelled by the class that drew them, and a head fitted to them by
   * {@link SoftmaxFit} (MLlib's defaults): the outliers are planted in the data (rare columns a
   * class owns, bursts), and the unregularized fit turns them into outlier weights.
   */
  static PlantedOutlierHead fitted(long seed, int classes, int dim, int rareColumns, int rows, int iterations) {
    SplittableRandom rnd = new SplittableRandom(seed);
    boolean[] rare = new boolean[dim];
    int[] owner = new int[dim];
    for (int placed = 0; placed < rareColumns; ) {
      int c = rnd.nextInt(dim);
      if (!rare[c]) {
        rare[c] = true;
        owner[c] = rnd.nextInt(classes);
        placed++;
      }
    }
    double[] level = new double[dim];
    boolean[][] favoured = new boolean[classes][dim];
    for (int c = 0; c < dim; c++) {
      level[c] = Math.exp(0.75 * rnd.nextGaussian());
      for (int k = 0; k < classes; k++) {
        favoured[k][c] = !rare[c] && rnd.nextDouble() < 0.25;
      }
    }
    float[] x = new float[rows * dim];
    int[] labels = new int[rows];
    for (int r = 0; r < rows; r++) {
      int k = rnd.nextInt(classes);
      labels[r] = k;
      for (int c = 0; c < dim; c++) {
        double p = rare[c] ? (owner[c] == k ? 0.03 : 0.002) : favoured[k][c] ? 0.4 : 0.1;
        if (rnd.nextDouble() < p) {
          double count = Math.round(level[c] * (1 + Math.floor(Math.log(rnd.nextDouble()) / Math.log(0.7))));
          if (rnd.nextDouble() < 0.04) {
            count *= 5 + rnd.nextInt(16); // a burst
          }
          x[r * dim + c] = (float) Math.max(1, count);
        }
      }
    }
    return SoftmaxFit.fit(x, labels, rows, dim, classes, iterations);
  }

  static double columnSd(float[] x, int rows, int dim, int c) {
    double s = 0;
    double s2 = 0;
    for (int r = 0; r < rows; r++) {
      s += x[r * dim + c];
      s2 += (double) x[r * dim + c] * x[r * dim + c];
    }
    double mean = s / rows;
    return Math.sqrt(Math.max(0, s2 / rows - mean * mean));
  }

  static double percentileAbs(float[][] w, boolean[] skipColumn, double q) {
    int n = 0;
    double[] a = new double[w.length * w[0].length];
    for (float[] row : w) {
      for (int c = 0; c < row.length; c++) {
        if (skipColumn == null || !skipColumn[c]) {
          a[n++] = Math.abs(row[c]);
        }
      }
    }
    double[] s = java.util.Arrays.copyOf(a, n);
    java.util.Arrays.sort(s);
    return s[Math.min(n - 1, (int) Math.floor(q * n))];
  }

  /** An embedding-like set: dense Gaussian rows normalized to unit length, Gaussian weights. */
  static PlantedOutlierHead embeddings(long seed, int classes, int dim, int rows) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[][] w = new float[classes][dim];
    for (float[] row : w) {
      for (int c = 0; c < dim; c++) {
        row[c] = (float) rnd.nextGaussian();
      }
    }
    float[] x = new float[rows * dim];
    for (int r = 0; r < rows; r++) {
      // Rows near one class's direction (like embeddings near a topic), then normalized.
      float[] centre = w[rnd.nextInt(classes)];
      double sq = 0;
      for (int c = 0; c < dim; c++) {
        double v = 0.15 * centre[c] + rnd.nextGaussian();
        x[r * dim + c] = (float) v;
        sq += v * v;
      }
      for (int c = 0; c < dim; c++) {
        x[r * dim + c] /= (float) Math.sqrt(sq);
      }
    }
    float[] bias = new float[classes];
    for (int k = 0; k < classes; k++) {
      bias[k] = (float) (0.1 * rnd.nextGaussian());
    }
    return new PlantedOutlierHead(classes, dim, w, bias, rows, x);
  }

  /** The arg-max of W x + b per row, in double: the exact answer the kernels are held to. */
  int[] fp32Top1() {
    int[] top = new int[rows];
    for (int r = 0; r < rows; r++) {
      double best = Double.NEGATIVE_INFINITY;
      for (int k = 0; k < classes; k++) {
        double z = bias[k];
        for (int c = 0; c < dim; c++) {
          z += (double) w[k][c] * x[r * dim + c];
        }
        if (z > best) {
          best = z;
          top[r] = k;
        }
      }
    }
    return top;
  }
}
