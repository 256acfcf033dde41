package dev.joule.jobs.report;

/**
 * A quantized kernel's answers against the fp32 ones on the same rows.
 *
 * @param basis where the figures come from: {@link #EVERY_ROW} (the two runs' predictions joined
 *     by id) or {@link #GATE_SAMPLE} (the quality gate's sample, measured when the run ran and
 *     stored in it, for runs whose predictions a later run replaced)
 */
public record Quality(String baselineKernel, String candidateKernel, long rowsCompared,
    double top1Agreement, double maxAbsProbError, double meanAbsProbError, String basis) {

  public static final String EVERY_ROW = "every row both runs scored (predictions joined by id)";
  public static final String GATE_SAMPLE = "the quality gate's sample, measured at run time and stored in the run";

  public Quality(String baselineKernel, String candidateKernel, long rowsCompared, double top1Agreement,
      double maxAbsProbError, double meanAbsProbError) {
    this(baselineKernel, candidateKernel, rowsCompared, top1Agreement, maxAbsProbError, meanAbsProbError, EVERY_ROW);
  }

  /**
   * The agreement with fp32 a run's quality gate measured and stored for the kernel it published,
   * or null when it measured none (the baseline must be an fp32 run for this to stand in).
   */
  public static Quality fromGate(String baselineKernel, String candidateKernel,
      dev.joule.jobs.score.QualityGate.Outcome gate) {
    if (gate == null || gate.checks().isEmpty()) {
      return null;
    }
    // The check of the kernel the run published: after a fallback, not the attempt that failed.
    dev.joule.jobs.score.QualityGate.Check last = gate.checks().stream()
        .filter(c -> c.precision().equals(gate.publishedPrecision())).reduce((a, b) -> b).orElse(null);
    if (last == null || last.rows() <= 0 || Double.isNaN(last.value()) || !last.metric().startsWith("top1")) {
      return null;
    }
    return new Quality(baselineKernel, candidateKernel, last.rows(), last.value(), Double.NaN, Double.NaN, GATE_SAMPLE);
  }
}
