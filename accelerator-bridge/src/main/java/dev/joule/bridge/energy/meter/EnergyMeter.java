package dev.joule.bridge.energy.meter;

import dev.joule.bridge.energy.EnergyMethod;

/**
 * A source of energy figures. Two kinds exist: {@link EnergyCounter}s read a device's cumulative
 * energy (RAPL, NVML: measured, covering a whole socket or GPU, so concurrent work must share a
 * reading), and {@link EnergyEstimator}s derive figures from what a span of work did (thread CPU
 * time × a power band; counted ops and bytes × per-op energies).
 */
public interface EnergyMeter {

  /** {@code rapl}, {@code nvml}, {@code cputime} or {@code ops-bytes}. */
  String name();

  EnergyMethod method();

  /** Why this meter cannot be used on this machine, or null when it can. */
  String unavailableReason();

  default boolean available() {
    return unavailableReason() == null;
  }
}
