package dev.joule.jobs.score;

import dev.joule.udfs.EnergyAccumulators;
import java.util.Locale;

/**
 * What the scoring phase's progress line adds after rows and rate: the running total of the
 * run's energy accumulators (the partitions' own figures, finished tasks only): "J est." for
 * estimated_cputime, and "J measured" where a meter exists.
 */
final class ScoringProgress {

  private ScoringProgress() {}

  static String message(EnergyAccumulators a) {
    double measured = a.measuredJ().sum();
    return String.format(Locale.ROOT, "%.1f J est.%s", a.estimatedJ().sum(),
        measured > 0 ? String.format(Locale.ROOT, ", %.1f J measured", measured) : "");
  }
}
