package dev.joule.bridge.energy.meter;

import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongSupplier;

/**
 * What a device draws doing nothing, per component of its counter, measured with that counter:
 * a GPU's board draws ~129 W idle on the machine this project can borrow, so a batch's measured
 * energy is mostly idle draw unless the two are recorded apart ({@link EnergyLedger}).
 *
 * @param watts idle watts per component; a component not here is not split
 */
public record IdlePower(Map<String, Double> watts) {

  public static final IdlePower NONE = new IdlePower(Map.of());

  public IdlePower {
    watts = Map.copyOf(watts);
    watts.forEach((c, w) -> {
      if (!(w >= 0) || Double.isInfinite(w)) {
        throw new IllegalArgumentException("idle power of " + c + " must be finite and >= 0, got " + w);
      }
    });
  }

  public double watts(String component) {
    return watts.getOrDefault(component, 0.0);
  }

  /** The component a segment's idle part is recorded as: {@code gpu} → {@code gpu_idle}. */
  public static String idleComponent(String component) {
    return component + "_idle";
  }

  /** What a sleeper does; tests pass one that moves their fake clock and counter. */
  public interface Sleeper {
    void sleep(long nanos) throws InterruptedException;
  }

  /**
   * Reads {@code counter} over {@code nanos} of doing nothing: its mean power per component. Call
   * it before the device serves anyone (a node's start-up); what else runs on the device is
   * counted as idle.
   */
  public static IdlePower measure(EnergyCounter counter, long nanos, LongSupplier wallNanos, Sleeper sleeper)
      throws InterruptedException {
    if (nanos <= 0) {
      throw new IllegalArgumentException("an idle window must be positive, got " + nanos + " ns");
    }
    Map<String, Double> before = counter.readJoules();
    long t0 = wallNanos.getAsLong();
    sleeper.sleep(nanos);
    Map<String, Double> after = counter.readJoules();
    double seconds = (wallNanos.getAsLong() - t0) / 1e9;
    Map<String, Double> watts = new TreeMap<>();
    after.forEach((c, j) -> watts.put(c, Math.max(0, j - before.getOrDefault(c, j)) / seconds));
    return new IdlePower(watts);
  }

  /** e.g. {@code gpu 129.4 W}. */
  public String describe() {
    StringBuilder s = new StringBuilder();
    new TreeMap<>(watts).forEach((c, w) -> s.append(s.length() == 0 ? "" : ", ")
        .append(c).append(' ').append(String.format(java.util.Locale.ROOT, "%.1f W", w)));
    return s.length() == 0 ? "none" : s.toString();
  }
}
