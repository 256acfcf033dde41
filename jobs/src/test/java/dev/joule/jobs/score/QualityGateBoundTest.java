package dev.joule.jobs.score;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class QualityGateBoundTest {

  @Test
  void wilsonUpperBoundAgainstKnownValues() {
    // Wilson score bound, one-sided 95 % (z = 1.6449): p = 0.9949 on 4,500 rows.
    double z = 1.6448536269514722;
    double p = 0.9949;
    double n = 4500;
    double expected = (p + z * z / (2 * n) + z * Math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n);
    assertEquals(expected, QualityGate.upperBound(p, 4500, 0.95), 1e-9);
    assertTrue(QualityGate.upperBound(p, 4500, 0.95) >= 0.995, "a 4,500-row sample at 0.9949 is no evidence against 0.995");
    // The int4 case of QualityGateIT: 0.9777 on 3,000 rows is clearly below 0.995.
    assertTrue(QualityGate.upperBound(0.9777, 3000, 0.95) < 0.995);
    // Confidence 0 is the measured value; a perfect sample stays at 1.
    assertEquals(0.9949, QualityGate.upperBound(0.9949, 4500, 0), 0);
    assertEquals(1.0, QualityGate.upperBound(1.0, 10, 0.95), 1e-12);
    // All wrong on a handful of rows still leaves room, but not much.
    assertTrue(QualityGate.upperBound(0.0, 10, 0.95) < 0.25);
  }

  @Test
  void theBoundCoversTheTruthAsOftenAsItsConfidenceSays() {
    // Simulated samples of a precision whose true agreement is exactly the bar: the gate must
    // pass (bound >= truth) in about 95 % of them, and at the measured value alone about half.
    SplittableRandom rnd = new SplittableRandom(5);
    double truth = 0.995;
    int n = 4500;
    int trials = 2000;
    int covered = 0;
    int pointPassed = 0;
    for (int t = 0; t < trials; t++) {
      int agree = 0;
      for (int i = 0; i < n; i++) {
        agree += rnd.nextDouble() < truth ? 1 : 0;
      }
      double p = agree / (double) n;
      covered += QualityGate.upperBound(p, n, 0.95) >= truth ? 1 : 0;
      pointPassed += p >= truth ? 1 : 0;
    }
    double coverage = covered / (double) trials;
    System.out.printf("true agreement %.3f on %,d rows: bound covers it in %.3f of samples; the value alone in %.3f%n",
        truth, n, coverage, pointPassed / (double) trials);
    assertTrue(coverage > 0.93 && coverage < 0.99, "coverage " + coverage);
    assertTrue(pointPassed / (double) trials < 0.65);
  }
}
