package dev.joule.jobs.score;

import dev.joule.udfs.EnergyAccumulators;
import java.util.Locale;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.SparkSession;

/**
 * A console progress bar for the scoring job: partitions done / total, rows/s, and the running
 * total of the run's energy accumulators (the partitions' own figures: "J est." for
 * estimated_cputime, and "J measured" where a meter exists). Shown only on a terminal
 * ({@code joule.progress = auto}) or when forced ({@code on}); it writes to stderr.
 */
final class ScoringProgress extends SparkListener implements Progress {

  private final SparkSession spark;
  private final ProgressBar bar;
  private final EnergyAccumulators accumulators;
  private final long start = System.nanoTime();

  private ScoringProgress(SparkSession spark, int partitions, EnergyAccumulators accumulators) {
    this.spark = spark;
    this.accumulators = accumulators;
    this.bar = new ProgressBarBuilder().setTaskName("scoring").setInitialMax(partitions)
        .setUnit(" partitions", 1).setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500)
        .continuousUpdate().build();
    spark.sparkContext().addSparkListener(this);
  }

  /** A progress bar, or a no-op when the mode or the console says no. */
  static Progress start(SparkSession spark, String mode, int partitions, EnergyAccumulators accumulators) {
    boolean on = mode.equals("on") || (mode.equals("auto") && System.console() != null);
    if (!on) {
      return () -> { };
    }
    return new ScoringProgress(spark, partitions, accumulators);
  }

  /** The line after the bar, from the accumulators' driver-side values (finished tasks only). */
  static String message(EnergyAccumulators a, double seconds) {
    double measured = a.measuredJ().sum();
    return String.format(Locale.ROOT, "%,.0f rows/s, %.1f J est.%s", a.rowsScored().sum() / Math.max(seconds, 1e-3),
        a.estimatedJ().sum(), measured > 0 ? String.format(Locale.ROOT, ", %.1f J measured", measured) : "");
  }

  @Override
  public void onTaskEnd(SparkListenerTaskEnd end) {
    bar.setExtraMessage(message(accumulators, (System.nanoTime() - start) / 1e9));
    bar.step();
  }

  @Override
  public void close() {
    spark.sparkContext().removeSparkListener(this);
    bar.close();
  }
}
