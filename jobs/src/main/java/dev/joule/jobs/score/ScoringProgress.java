package dev.joule.jobs.score;

import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.PowerProfile;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.SparkSession;

/**
 * A console progress bar for the scoring job: partitions done / total, rows/s, and joules so far
 * estimated from the finished tasks' executor CPU time (labelled "est."). Shown only on a
 * terminal ({@code joule.progress = auto}) or when forced ({@code on}); it writes to stderr.
 */
final class ScoringProgress extends SparkListener implements Progress {

  private final SparkSession spark;
  private final ProgressBar bar;
  private final double wattsPerVcpu;
  private final AtomicLong rows = new AtomicLong();
  private final AtomicLong cpuNanos = new AtomicLong();
  private final long start = System.nanoTime();

  private ScoringProgress(SparkSession spark, int partitions, double wattsPerVcpu) {
    this.spark = spark;
    this.wattsPerVcpu = wattsPerVcpu;
    this.bar = new ProgressBarBuilder().setTaskName("scoring").setInitialMax(partitions)
        .setUnit(" partitions", 1).setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500)
        .continuousUpdate().build();
    spark.sparkContext().addSparkListener(this);
  }

  /** A progress bar, or a no-op when the mode or the console says no. */
  static Progress start(SparkSession spark, String mode, int partitions, List<PowerProfile> profiles) {
    boolean on = mode.equals("on") || (mode.equals("auto") && System.console() != null);
    if (!on) {
      return () -> { };
    }
    PowerProfile p = PowerProfile.choose(profiles, HardwareProfile.detect().cpuModel());
    return new ScoringProgress(spark, partitions, p.cpuWattsTypical());
  }

  @Override
  public void onTaskEnd(SparkListenerTaskEnd end) {
    if (end.taskMetrics() != null) {
      rows.addAndGet(end.taskMetrics().inputMetrics().recordsRead());
      cpuNanos.addAndGet(end.taskMetrics().executorCpuTime());
    }
    double s = (System.nanoTime() - start) / 1e9;
    bar.setExtraMessage(String.format(Locale.ROOT, "%,.0f rows/s, ~%.1f J est.", rows.get() / Math.max(s, 1e-3),
        cpuNanos.get() / 1e9 * wattsPerVcpu));
    bar.step();
  }

  @Override
  public void close() {
    spark.sparkContext().removeSparkListener(this);
    bar.close();
  }
}
