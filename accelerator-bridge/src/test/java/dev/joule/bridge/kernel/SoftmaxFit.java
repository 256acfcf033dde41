package dev.joule.bridge.kernel;

/**
 * A softmax head fitted the way MLlib's LogisticRegression does by default: features scaled by
 * their standard deviation (not centred), an intercept, no regularization, coefficients mapped
 * back to raw feature units, constant features at 0. That mapping is what gives rarely active
 * inputs large weights. Full-batch Adam stands in for L-BFGS; deterministic.
 */
final class SoftmaxFit {

  static PlantedOutlierHead fit(float[] x, int[] labels, int n, int dim, int classes, int iterations) {
    double[] sd = new double[dim];
    for (int c = 0; c < dim; c++) {
      sd[c] = PlantedOutlierHead.columnSd(x, n, dim, c) * Math.sqrt(n / (n - 1.0));
    }
    // Standardized copy, so the inner loops are plain products.
    float[] xs = new float[n * dim];
    for (int r = 0; r < n; r++) {
      for (int c = 0; c < dim; c++) {
        xs[r * dim + c] = sd[c] > 0 ? (float) (x[r * dim + c] / sd[c]) : 0f;
      }
    }
    double[][] w = new double[classes][dim + 1]; // last: intercept
    double[][] m = new double[classes][dim + 1];
    double[][] v = new double[classes][dim + 1];
    double lr = 0.05;
    double[] z = new double[classes];
    for (int it = 1; it <= iterations; it++) {
      double[][] g = new double[classes][dim + 1];
      for (int r = 0; r < n; r++) {
        int o = r * dim;
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < classes; k++) {
          double s = w[k][dim];
          for (int c = 0; c < dim; c++) {
            s += w[k][c] * xs[o + c];
          }
          z[k] = s;
          max = Math.max(max, s);
        }
        double sum = 0;
        for (int k = 0; k < classes; k++) {
          z[k] = Math.exp(z[k] - max);
          sum += z[k];
        }
        for (int k = 0; k < classes; k++) {
          double d = (z[k] / sum - (k == labels[r] ? 1 : 0)) / n;
          for (int c = 0; c < dim; c++) {
            g[k][c] += d * xs[o + c];
          }
          g[k][dim] += d;
        }
      }
      double c1 = 1 - Math.pow(0.9, it);
      double c2 = 1 - Math.pow(0.999, it);
      for (int k = 0; k < classes; k++) {
        for (int c = 0; c <= dim; c++) {
          m[k][c] = 0.9 * m[k][c] + 0.1 * g[k][c];
          v[k][c] = 0.999 * v[k][c] + 0.001 * g[k][c] * g[k][c];
          w[k][c] -= lr * (m[k][c] / c1) / (Math.sqrt(v[k][c] / c2) + 1e-8);
        }
      }
    }
    float[][] raw = new float[classes][dim];
    float[] bias = new float[classes];
    for (int k = 0; k < classes; k++) {
      for (int c = 0; c < dim; c++) {
        raw[k][c] = sd[c] > 0 ? (float) (w[k][c] / sd[c]) : 0f;
      }
      bias[k] = (float) w[k][dim];
    }
    return new PlantedOutlierHead(classes, dim, raw, bias, n, x);
  }

  private SoftmaxFit() {}
}
