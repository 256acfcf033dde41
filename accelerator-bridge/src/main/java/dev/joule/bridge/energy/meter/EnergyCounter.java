package dev.joule.bridge.energy.meter;

import java.util.Map;

/**
 * A measured, cumulative energy counter of a whole device (a CPU socket's package and DRAM, a
 * GPU). Readings only make sense as differences; the counter hides wrap-around, so successive
 * readings never decrease. Thread-safe.
 */
public interface EnergyCounter extends EnergyMeter, AutoCloseable {

  /**
   * Joules per component ({@code cpu}, {@code dram}, {@code gpu}) since an arbitrary origin,
   * monotonic.
   *
   * @throws IllegalStateException if the device cannot be read any more
   */
  Map<String, Double> readJoules();

  /** A one-line description of what is measured, e.g. {@code RAPL package-0 + dram (2 zones)}. */
  String describe();

  @Override
  default void close() {}
}
