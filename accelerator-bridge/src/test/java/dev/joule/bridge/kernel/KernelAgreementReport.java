package dev.joule.bridge.kernel;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Top-1 agreement with the exact arg-max of the kernels as built (not simulated): per-channel on
 * int8 rows (today), the chosen scaling on the rows it asks for, and column-channel on int8 rows
 * (a codes table), at int8 and int4; on the planted sets of PlantedOutliersTest at dims 64, 128
 * and 256 and, given its path, the digits set (DigitsHeadReport). A report: it prints.
 */
final class KernelAgreementReport {

  public static void main(String[] args) throws IOException {
    VectorOps ops = VectorOpsProvider.get();
    System.out.printf("%-22s %-5s %-22s %-36s %-28s%n", "set", "prec", "per-channel, int8 rows",
        "chosen scaling, its rows", "column-channel, int8 rows");
    for (int dim : new int[] {64, 128, 256}) {
      for (long seed : PlantedOutliersTest.SEEDS) {
        print("planted d" + dim + " s" + seed, PlantedOutlierHead.fitted(seed, 10, dim, dim / 16,
            PlantedOutliersTest.ROWS, 200), ops);
      }
    }
    if (args.length > 0) {
      print("digits (1797 rows)", DigitsHeadReport.fit(DigitsHeadReport.read(Path.of(args[0])), 300), ops);
    }
  }

  static void print(String name, PlantedOutlierHead h, VectorOps ops) {
    for (Precision p : new Precision[] {Precision.INT8, Precision.INT4}) {
      // Per-channel as it was before column scales and near ties: the "before" column.
      LinearKernel perChannel = PlantedOutliersTest.kernel(h, p, WeightScaling.PER_CHANNEL).withoutNearTies();
      LinearKernel chosen = PlantedOutliersTest.kernel(h, p, null);
      LinearKernel column = PlantedOutliersTest.kernel(h, p, WeightScaling.COLUMN_CHANNEL);
      System.out.printf("%-22s %-5s %-22.4f %-36s %-28.4f%n", name, p, agreement(h, perChannel, Precision.INT8, ops),
          String.format("%.4f (%s, %s rows)", agreement(h, chosen, chosen.queryPrecision(), ops),
              chosen.scalingChoice().chosen(), chosen.queryPrecision()),
          agreement(h, column, Precision.INT8, ops));
    }
  }

  static double agreement(PlantedOutlierHead h, LinearKernel k, Precision rows, VectorOps ops) {
    EncodedRows in = EncodedRows.encode(rows, h.rows(), h.dim(), h.x());
    KernelOutput out = k.newOutput();
    k.score(in, out, ops);
    int[] truth = h.fp32Top1();
    int agree = 0;
    for (int r = 0; r < h.rows(); r++) {
      agree += BridgeBatches.argmax(out.scores(), r * k.width(), k.width()) == truth[r] ? 1 : 0;
    }
    return agree / (double) h.rows();
  }

  private KernelAgreementReport() {}
}
