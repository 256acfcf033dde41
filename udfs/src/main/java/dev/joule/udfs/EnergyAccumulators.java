package dev.joule.udfs;

import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.EnergyMethod;
import java.io.Serializable;
import java.util.List;
import org.apache.spark.SparkContext;
import org.apache.spark.util.DoubleAccumulator;
import org.apache.spark.util.LongAccumulator;

/**
 * Named Spark accumulators a scoring run adds each partition's energy to, so the Spark UI's stage
 * page lists the joules (estimated and measured, never mixed) and rows of every stage. Only
 * successful tasks count, as for the energy_log.
 */
public record EnergyAccumulators(LongAccumulator rowsScored, DoubleAccumulator estimatedJ,
    DoubleAccumulator measuredJ) implements Serializable {

  public static final String PREFIX = "joule.";
  public static final String ROWS = PREFIX + "rows_scored";
  public static final String ESTIMATED = PREFIX + "energy_j.estimated_cputime";
  public static final String MEASURED = PREFIX + "energy_j.measured";

  /** Creates and registers the accumulators of one run on the driver. */
  public static EnergyAccumulators register(SparkContext sc) {
    return new EnergyAccumulators(sc.longAccumulator(ROWS), sc.doubleAccumulator(ESTIMATED),
        sc.doubleAccumulator(MEASURED));
  }

  /**
   * Adds one partition's figures: {@code estimated_cputime} ones (the task's and a remote node's)
   * and measured ones (shares and rest). The relative ops/bytes model is not added up.
   */
  public void add(List<EnergyFigure> figures, long rows) {
    double est = 0;
    double meas = 0;
    for (EnergyFigure f : figures) {
      if (f.method() == EnergyMethod.ESTIMATED_CPUTIME) {
        est += f.joules();
      } else if (f.method().measured()) {
        meas += f.joules();
      }
    }
    rowsScored.add(rows);
    estimatedJ.add(est);
    if (meas > 0) {
      measuredJ.add(meas);
    }
  }
}
