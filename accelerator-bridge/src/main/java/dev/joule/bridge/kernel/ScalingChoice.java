package dev.joule.bridge.kernel;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;

/**
 * Which {@link WeightScaling} a kernel's weights use and why: the relative output error each
 * candidate gave on the calibration rows ({@code ‖Ŵx − Wx‖ / ‖Wx − mean‖} over those rows,
 * activations exact, so it measures the weights alone) and where the rows came from. Stored in
 * the kernel's metadata, so a user reading a kernel (or a decoded one) sees the reason, and the
 * kernel id changes with it.
 */
public record ScalingChoice(WeightScaling chosen, String calibration, Map<WeightScaling, Double> outputError) {

  public ScalingChoice {
    if (calibration.isEmpty() || calibration.contains(" ")) {
      throw new IllegalArgumentException("calibration is one word, e.g. probes or rows-200: '" + calibration + "'");
    }
    outputError = Collections.unmodifiableMap(outputError.isEmpty()
        ? new EnumMap<>(WeightScaling.class) : new EnumMap<>(outputError));
  }

  /** A choice made by the caller, not measured. */
  public static ScalingChoice forced(WeightScaling s) {
    return new ScalingChoice(s, "forced", Map.of());
  }

  /** A kernel written before the choice was recorded: per-channel, the only scaling then. */
  static ScalingChoice unrecorded() {
    return new ScalingChoice(WeightScaling.PER_CHANNEL, "unrecorded", Map.of());
  }

  /** One line for logs and reports. */
  public String describe() {
    StringBuilder b = new StringBuilder(chosen.label()).append(" (calibration: ").append(calibration);
    outputError.forEach((k, v) -> b.append("; ").append(k.label()).append(" output error ").append(format(v)));
    return b.append(')').toString();
  }

  /**
   * Two metadata entries: {@code <name>.scaling} (the label) and {@code <name>.scaling.why}, e.g.
   * {@code probes per-channel=0.218 column-channel=0.00435}: compact, since small heads pay for
   * every byte of metadata in the kernel they ship.
   */
  void write(KernelPayload p, String name) {
    p.meta(name + ".scaling", chosen.label());
    StringBuilder why = new StringBuilder(calibration);
    outputError.forEach((k, v) -> why.append(' ').append(k.label()).append('=').append(format(v)));
    p.meta(name + ".scaling.why", why);
  }

  /** The recorded choice, or {@link #unrecorded()} for a kernel without one. */
  static ScalingChoice read(KernelPayload p, String name) {
    String chosen = p.meta().get(name + ".scaling");
    if (chosen == null) {
      return unrecorded();
    }
    String[] why = p.get(name + ".scaling.why").split(" ");
    Map<WeightScaling, Double> errors = new EnumMap<>(WeightScaling.class);
    for (int i = 1; i < why.length; i++) {
      int eq = why[i].indexOf('=');
      if (eq < 0) {
        throw new IllegalArgumentException("malformed " + name + ".scaling.why entry '" + why[i] + "'");
      }
      errors.put(WeightScaling.parse(why[i].substring(0, eq)), Double.parseDouble(why[i].substring(eq + 1)));
    }
    return new ScalingChoice(WeightScaling.parse(chosen), why[0], errors);
  }

  /** {@code v} to the three significant digits the record keeps. */
  static double rounded(double v) {
    return Double.parseDouble(format(v));
  }

  /** Fixed notation, so the same weights always give the same metadata bytes. */
  private static String format(double v) {
    return String.format(Locale.ROOT, "%.3g", v);
  }
}
