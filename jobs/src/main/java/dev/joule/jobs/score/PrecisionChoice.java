package dev.joule.jobs.score;

import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.JouleException;
import java.util.Locale;

/** The precision a score run is asked for: a fixed one, or {@code auto} ({@link AutoPrecision}). */
public sealed interface PrecisionChoice {

  /** Score at this precision; the quality gate checks it against {@code quality.min-*}. */
  record Fixed(Precision precision) implements PrecisionChoice {}

  /** Measure a sample first and score at the cheapest precision that meets {@code quality.target-*}. */
  record Auto() implements PrecisionChoice {}

  /** {@code auto}, or a precision label; anything else is a usage error. */
  static PrecisionChoice parse(String s) {
    if (s.trim().toLowerCase(Locale.ROOT).equals("auto")) {
      return new Auto();
    }
    try {
      return new Fixed(Precision.parse(s));
    } catch (IllegalArgumentException e) {
      throw JouleException.usage(e.getMessage() + " (or auto)");
    }
  }
}
