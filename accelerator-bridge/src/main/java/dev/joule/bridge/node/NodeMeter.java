package dev.joule.bridge.node;

import dev.joule.bridge.energy.meter.EnergyCounter;
import dev.joule.bridge.energy.meter.EnergyLedger;
import dev.joule.bridge.energy.meter.IdlePower;

/**
 * A node's measured counter (a GPU's NVML, a socket's RAPL), the device's idle draw measured with
 * it, and the clocks its readings are shared by.
 *
 * @param counter available
 */
public record NodeMeter(EnergyCounter counter, IdlePower idle, EnergyLedger.CpuClock clock) {

  public NodeMeter {
    if (!counter.available()) {
      throw new IllegalArgumentException("counter " + counter.name() + " is unavailable: " + counter.unavailableReason());
    }
  }
}
