package dev.joule.bridge.kernel;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * The real-data check of issue 17: the 8×8 digits set (1,797 × 64 pixel counts 0..16, last column
 * the label; Debian's python3-sklearn ships it as sklearn/datasets/data/digits.csv.gz) and a
 * softmax head fitted the way MLlib's LogisticRegression does by default: features scaled by
 * their standard deviation (not centred), an intercept, no regularization, coefficients mapped
 * back to raw feature units (so rarely active pixels get large weights), constant features at 0.
 * Full-batch Adam stands in for L-BFGS. A report: pass the csv.gz path; it prints, never asserts.
 */
final class DigitsHeadReport {

  public static void main(String[] args) throws IOException {
    PlantedOutlierHead head = fit(read(Path.of(args[0])), args.length > 1 ? Integer.parseInt(args[1]) : 2000);
    System.out.printf("digits head: |w| max / p99 = %.1f, max / median = %.0f%n",
        PlantedOutlierHead.percentileAbs(head.w(), null, 1.0) / PlantedOutlierHead.percentileAbs(head.w(), null, 0.99),
        PlantedOutlierHead.percentileAbs(head.w(), null, 1.0) / PlantedOutlierHead.percentileAbs(head.w(), null, 0.5));
    OutlierCandidatesReport.report(List.of(head));
    OutlierCandidatesReport.activationReport(List.of(head));
  }

  static float[][] read(Path p) throws IOException {
    List<float[]> rows = new ArrayList<>();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(new GZIPInputStream(Files.newInputStream(p)),
        StandardCharsets.US_ASCII))) {
      for (String line; (line = r.readLine()) != null; ) {
        String[] f = line.split(",");
        float[] v = new float[f.length];
        for (int i = 0; i < f.length; i++) {
          v[i] = Float.parseFloat(f[i]);
        }
        rows.add(v);
      }
    }
    return rows.toArray(new float[0][]);
  }

  static PlantedOutlierHead fit(float[][] data, int iterations) {
    int n = data.length;
    int dim = data[0].length - 1;
    float[] x = new float[n * dim];
    int[] labels = new int[n];
    for (int r = 0; r < n; r++) {
      System.arraycopy(data[r], 0, x, r * dim, dim);
      labels[r] = (int) data[r][dim];
    }
    return SoftmaxFit.fit(x, labels, n, dim, 10, iterations);
  }

  private DigitsHeadReport() {}
}
