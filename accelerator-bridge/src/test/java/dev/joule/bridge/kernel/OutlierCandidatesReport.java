package dev.joule.bridge.kernel;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Measures candidate weight quantizations on the planted-outlier head by simulation (dequantize,
 * then exact arithmetic in double), each with activations at fp32, int8 rows and int4 rows, so
 * the side that dominates the error shows; then candidate row encodings with fp32 weights. The
 * figures in docs/quantization.md come from it. A report (run its main), not a test: it prints,
 * never asserts. Column headings: weights precision : activations.
 */
final class OutlierCandidatesReport {

  record Candidate(String name, Function<float[][], float[][]> dequantized) {}

  /** Planted sets of PlantedOutliersTest at dims 64, 128, 256 (3 seeds each), then embeddings. */
  public static void main(String[] args) {
    for (int dim : new int[] {64, 128, 256}) {
      List<PlantedOutlierHead> sets = new ArrayList<>();
      for (long s : PlantedOutliersTest.SEEDS) {
        sets.add(PlantedOutlierHead.fitted(s, 10, dim, dim / 16, PlantedOutliersTest.ROWS, 200));
      }
      PlantedOutlierHead h = sets.get(0);
      System.out.printf("%n== planted (fitted), dim %d, seeds %s: |w| max/p99 %.1f, max/median %.0f ==%n", dim,
          java.util.Arrays.toString(PlantedOutliersTest.SEEDS),
          PlantedOutlierHead.percentileAbs(h.w(), null, 1.0) / PlantedOutlierHead.percentileAbs(h.w(), null, 0.99),
          PlantedOutlierHead.percentileAbs(h.w(), null, 1.0) / PlantedOutlierHead.percentileAbs(h.w(), null, 0.5));
      report(sets);
      activationReport(sets);
    }
    System.out.printf("%n== embeddings, dim 384 ==%n");
    report(List.of(PlantedOutlierHead.embeddings(1, 10, 384, 4000), PlantedOutlierHead.embeddings(2, 10, 384, 4000)));
  }

  static void report(List<PlantedOutlierHead> sets) {
    System.out.printf("%-34s %8s %8s %8s   %8s %8s %8s%n", "weights", "8:fp32x", "8:int8x", "8:int4x", "4:fp32x",
        "4:int8x", "4:int4x");
    for (String name : List.of("fp32 (activation error only)", "per-channel (today)",
        "group 32", "group 16", "outlier cols fp32 (top dim/16)", "outlier cols >8x median colmax",
        "outlier cols >8x median colmax + g32", "outlier cols >8x median colmax + g16",
        "outlier cols >8x median colmax + g8", "column x row scales (colmax)", "column x row scales (colrms)",
        "column x row scales, requant x", "outlier cols + column x row", "column x row, refit columns",
        "column x (row, group 16)", "column x (row, group 32)")) {
      double[] a = new double[6];
      for (PlantedOutlierHead h : sets) {
        int[] truth = h.fp32Top1();
        int i = 0;
        for (Precision wp : new Precision[] {Precision.INT8, Precision.INT4}) {
          float[][] wq = weights(name, wp, h.w());
          for (Precision xp : new Precision[] {Precision.FP32, Precision.INT8, Precision.INT4}) {
            float[] xq = activations(xp, h);
            if (name.contains("requant")) {
              xq = requantized(xq, h, columnMax(h.w()));
            }
            a[i++] += agreement(h, wq, xq, truth) / sets.size();
          }
        }
      }
      System.out.printf("%-34s %8.4f %8.4f %8.4f   %8.4f %8.4f %8.4f%n", name, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
  }

  /** Activation variants with fp32 weights: which row encoding loses the top-1. */
  static void activationReport(List<PlantedOutlierHead> sets) {
    for (String name : List.of("int8 max-abs (today)", "int8 mse scale", "int8 unsigned 0..255",
        "int8 group 32", "int8 group 16", "int8 top-2 entries fp32", "int8 top-4 entries fp32")) {
      double a = 0;
      for (PlantedOutlierHead h : sets) {
        float[] xq = new float[h.x().length];
        for (int r = 0; r < h.rows(); r++) {
          float[] row = java.util.Arrays.copyOfRange(h.x(), r * h.dim(), (r + 1) * h.dim());
          System.arraycopy(activation(name, row), 0, xq, r * h.dim(), h.dim());
        }
        a += agreement(h, h.w(), xq, h.fp32Top1()) / sets.size();
      }
      System.out.printf("activations %-30s (fp32 weights) %8.4f%n", name, a);
    }
  }

  static float[] activation(String name, float[] row) {
    switch (name) {
      case "int8 max-abs (today)":
        return roundTrip(row, Precision.INT8);
      case "int8 mse scale": {
        float amax = 0;
        for (float f : row) {
          amax = Math.max(amax, Math.abs(f));
        }
        float[] best = null;
        double bestErr = Double.POSITIVE_INFINITY;
        for (int c = 0; c < 40; c++) {
          float s = amax / 127 * (float) Math.pow(0.93, c);
          float[] d = new float[row.length];
          double e = 0;
          for (int i = 0; i < row.length; i++) {
            d[i] = Math.max(-127, Math.min(127, Math.round(row[i] / s))) * s;
            e += (d[i] - row[i]) * (d[i] - row[i]);
          }
          if (e < bestErr) {
            bestErr = e;
            best = d;
          }
        }
        return best;
      }
      case "int8 unsigned 0..255": {
        float amax = 0;
        for (float f : row) {
          amax = Math.max(amax, f);
        }
        float[] d = new float[row.length];
        for (int i = 0; i < row.length && amax > 0; i++) {
          d[i] = Math.round(row[i] / amax * 255) * amax / 255;
        }
        return d;
      }
      case "int8 group 32":
        return grouped(new float[][] {row}, Precision.INT8, 32, true)[0];
      case "int8 group 16":
        return grouped(new float[][] {row}, Precision.INT8, 16, true)[0];
      case "int8 top-2 entries fp32":
      case "int8 top-4 entries fp32": {
        int m = name.contains("top-2") ? 2 : 4;
        boolean[] keep = topColumns(new float[][] {row}, m);
        float[] rest = row.clone();
        for (int i = 0; i < row.length; i++) {
          if (keep[i]) {
            rest[i] = 0;
          }
        }
        float[] d = roundTrip(rest, Precision.INT8);
        for (int i = 0; i < row.length; i++) {
          if (keep[i]) {
            d[i] = row[i];
          }
        }
        return d;
      }
      default:
        throw new IllegalArgumentException(name);
    }
  }

  static float[][] weights(String method, Precision p, float[][] w) {
    int dim = w[0].length;
    switch (method) {
      case "fp32 (activation error only)":
        return w;
      case "per-channel (today)":
        return grouped(w, p, dim, false);
      case "per-channel max-abs":
        return grouped(w, p, dim, true);
      case "group 32":
        return grouped(w, p, 32, false);
      case "group 16":
        return grouped(w, p, 16, false);
      case "outlier cols fp32 (top dim/16)":
        return withFp32Columns(w, topColumns(w, dim / 16), p, dim);
      case "outlier cols fp32 (>4x p99)":
        return withFp32Columns(w, columnsAbove(w, 4), p, dim);
      case "outlier cols >4x p99 + group 32":
        return withFp32Columns(w, columnsAbove(w, 4), p, 32);
      case "column x row scales (colmax)":
        return twoSided(w, p, columnMax(w));
      case "column x (row, group 16)":
        return twoSided(w, p, columnMax(w), 16);
      case "column x (row, group 32)":
        return twoSided(w, p, columnMax(w), 32);
      case "column x row, refit columns":
        return refitTwoSided(w, p, 3);
      case "column x row scales (colrms)":
        return twoSided(w, p, columnRms(w));
      case "column x row scales, requant x":
        return twoSided(w, p, columnMax(w)); // activations requantized in agreement(): see REQUANT
      case "outlier cols + column x row": {
        boolean[] o = columnsAboveMedian(w, 8);
        float[][] q = twoSided(w, p, columnMax(w));
        for (int j = 0; j < w.length; j++) {
          for (int c = 0; c < o.length; c++) {
            if (o[c]) {
              q[j][c] = w[j][c];
            }
          }
        }
        return q;
      }
      case "outlier cols >8x median colmax":
        return withFp32Columns(w, columnsAboveMedian(w, 8), p, dim);
      case "outlier cols >8x median colmax + g32":
        return withFp32Columns(w, columnsAboveMedian(w, 8), p, 32);
      case "outlier cols >8x median colmax + g16":
        return withFp32Columns(w, columnsAboveMedian(w, 8), p, 16);
      case "outlier cols >8x median colmax + g8":
        return withFp32Columns(w, columnsAboveMedian(w, 8), p, 8);
      default:
        throw new IllegalArgumentException(method);
    }
  }

  static float[][] grouped(float[][] w, Precision p, int group, boolean maxAbs) {
    float[][] out = new float[w.length][];
    for (int j = 0; j < w.length; j++) {
      out[j] = new float[w[j].length];
      for (int g = 0; g < w[j].length; g += group) {
        int len = Math.min(group, w[j].length - g);
        float[] slice = java.util.Arrays.copyOfRange(w[j], g, g + len);
        float[] deq = maxAbs ? maxAbs(slice, p) : roundTrip(slice, p);
        System.arraycopy(deq, 0, out[j], g, len);
      }
    }
    return out;
  }

  static float[] roundTrip(float[] v, Precision p) {
    EncodedRows e = EncodedRows.encode(p, 1, v.length, v);
    float[] out = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      int q = p == Precision.INT8 ? e.codes()[i] : Int4Quantizer.code(e.codes(), 0, v.length, i);
      out[i] = q * e.scales()[0];
    }
    return out;
  }

  static float[] maxAbs(float[] v, Precision p) {
    int qmax = p == Precision.INT8 ? 127 : 7;
    float amax = 0;
    for (float f : v) {
      amax = Math.max(amax, Math.abs(f));
    }
    float[] out = new float[v.length];
    for (int i = 0; i < v.length && amax > 0; i++) {
      out[i] = Math.round(v[i] / amax * qmax) * amax / qmax;
    }
    return out;
  }

  static boolean[] topColumns(float[][] w, int k) {
    int dim = w[0].length;
    double[] colMax = columnMax(w);
    boolean[] out = new boolean[dim];
    for (int n = 0; n < k; n++) {
      int best = -1;
      for (int c = 0; c < dim; c++) {
        if (!out[c] && (best < 0 || colMax[c] > colMax[best])) {
          best = c;
        }
      }
      out[best] = true;
    }
    return out;
  }

  static boolean[] columnsAbove(float[][] w, double times) {
    double p99 = PlantedOutlierHead.percentileAbs(w, null, 0.99);
    double[] colMax = columnMax(w);
    boolean[] out = new boolean[colMax.length];
    for (int c = 0; c < out.length; c++) {
      out[c] = colMax[c] > times * p99;
    }
    return out;
  }

  /** w_jc ~ s_j t_c q_jc: columns divided by t, rows quantized as today, then t multiplied back. */
  static float[][] twoSided(float[][] w, Precision p, double[] t) {
    return twoSided(w, p, t, t.length);
  }

  static float[][] twoSided(float[][] w, Precision p, double[] t, int group) {
    float[][] scaled = new float[w.length][w[0].length];
    for (int j = 0; j < w.length; j++) {
      for (int c = 0; c < t.length; c++) {
        scaled[j][c] = t[c] == 0 ? 0 : (float) (w[j][c] / t[c]);
      }
    }
    float[][] q = grouped(scaled, p, group, false);
    for (int j = 0; j < w.length; j++) {
      for (int c = 0; c < t.length; c++) {
        q[j][c] = (float) (q[j][c] * t[c]);
      }
    }
    return q;
  }

  /** Two-sided, then alternately: column scales refit by least squares, rows requantized. */
  static float[][] refitTwoSided(float[][] w, Precision p, int rounds) {
    double[] t = columnMax(w);
    float[][] best = twoSided(w, p, t);
    double bestErr = relErr(w, best, t);
    for (int round = 0; round < rounds; round++) {
      float[][] q = twoSided(w, p, t);
      double[] nt = new double[t.length];
      for (int c = 0; c < t.length; c++) {
        double num = 0;
        double den = 0;
        for (int j = 0; j < w.length; j++) {
          double unit = t[c] == 0 ? 0 : q[j][c] / t[c]; // s_j q_jc
          num += w[j][c] * unit;
          den += unit * unit;
        }
        nt[c] = den == 0 ? t[c] : num / den;
      }
      t = nt;
      float[][] cand = twoSided(w, p, t);
      double e = relErr(w, cand, t);
      if (e < bestErr) {
        bestErr = e;
        best = cand;
      }
    }
    return best;
  }

  static double relErr(float[][] w, float[][] q, double[] t) {
    double e = 0;
    for (int j = 0; j < w.length; j++) {
      for (int c = 0; c < t.length; c++) {
        if (t[c] != 0) {
          double d = (w[j][c] - q[j][c]) / t[c];
          e += d * d;
        }
      }
    }
    return e;
  }

  static double[] columnRms(float[][] w) {
    double[] m = new double[w[0].length];
    for (float[] row : w) {
      for (int c = 0; c < row.length; c++) {
        m[c] += row[c] * row[c] / w.length;
      }
    }
    for (int c = 0; c < m.length; c++) {
      m[c] = Math.sqrt(m[c]);
    }
    return m;
  }

  static boolean[] columnsAboveMedian(float[][] w, double times) {
    double[] colMax = columnMax(w);
    double[] sorted = colMax.clone();
    java.util.Arrays.sort(sorted);
    double median = sorted[sorted.length / 2];
    boolean[] out = new boolean[colMax.length];
    for (int c = 0; c < out.length; c++) {
      out[c] = colMax[c] > times * median;
    }
    return out;
  }

  static double[] columnMax(float[][] w) {
    double[] m = new double[w[0].length];
    for (float[] row : w) {
      for (int c = 0; c < row.length; c++) {
        m[c] = Math.max(m[c], Math.abs(row[c]));
      }
    }
    return m;
  }

  static float[][] withFp32Columns(float[][] w, boolean[] fp32, Precision p, int group) {
    float[][] rest = new float[w.length][];
    for (int j = 0; j < w.length; j++) {
      rest[j] = w[j].clone();
      for (int c = 0; c < fp32.length; c++) {
        if (fp32[c]) {
          rest[j][c] = 0;
        }
      }
    }
    float[][] q = grouped(rest, p, group, false);
    for (int j = 0; j < w.length; j++) {
      for (int c = 0; c < fp32.length; c++) {
        if (fp32[c]) {
          q[j][c] = w[j][c];
        }
      }
    }
    return q;
  }

  static float[] activations(Precision p, PlantedOutlierHead h) {
    if (p == Precision.FP32) {
      return h.x();
    }
    float[] out = new float[h.x().length];
    for (int r = 0; r < h.rows(); r++) {
      float[] row = java.util.Arrays.copyOfRange(h.x(), r * h.dim(), (r + 1) * h.dim());
      System.arraycopy(roundTrip(row, p), 0, out, r * h.dim(), h.dim());
    }
    return out;
  }

  /**
   * x̂_c·t_c requantized to int8 per row, divided by t again so agreement() can use the
   * dequantized two-sided weights unchanged.
   */
  static float[] requantized(float[] x, PlantedOutlierHead h, double[] t) {
    float[] out = new float[x.length];
    for (int r = 0; r < h.rows(); r++) {
      float[] u = new float[h.dim()];
      for (int c = 0; c < h.dim(); c++) {
        u[c] = (float) (x[r * h.dim() + c] * t[c]);
      }
      float[] uq = roundTrip(u, Precision.INT8);
      for (int c = 0; c < h.dim(); c++) {
        out[r * h.dim() + c] = t[c] == 0 ? 0 : (float) (uq[c] / t[c]);
      }
    }
    return out;
  }

  static double agreement(PlantedOutlierHead h, float[][] wq, float[] xq, int[] truth) {
    int agree = 0;
    for (int r = 0; r < h.rows(); r++) {
      int top = -1;
      double best = Double.NEGATIVE_INFINITY;
      for (int k = 0; k < h.classes(); k++) {
        double z = h.bias()[k];
        for (int c = 0; c < h.dim(); c++) {
          z += (double) wq[k][c] * xq[r * h.dim() + c];
        }
        if (z > best) {
          best = z;
          top = k;
        }
      }
      agree += top == truth[r] ? 1 : 0;
    }
    return agree / (double) h.rows();
  }

  private OutlierCandidatesReport() {}
}
