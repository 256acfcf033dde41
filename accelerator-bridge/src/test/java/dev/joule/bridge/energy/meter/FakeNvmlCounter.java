package dev.joule.bridge.energy.meter;

import dev.joule.bridge.energy.EnergyMethod;

/**
 * Base of the tests' stand-ins for a GPU's NVML counter: always available, reports
 * {@code measured_nvml}, and is its ledger's clock (no CPU to share by: GPUs share by rows).
 */
public abstract class FakeNvmlCounter implements EnergyCounter, EnergyLedger.CpuClock {

  @Override
  public String name() {
    return "nvml";
  }

  @Override
  public EnergyMethod method() {
    return EnergyMethod.MEASURED_NVML;
  }

  @Override
  public String unavailableReason() {
    return null;
  }

  @Override
  public long threadCpuNanos(long threadId) {
    return 0;
  }

  @Override
  public long processCpuNanos() {
    return 0;
  }

  /** The wall clock the ledger shares idle time by; subclasses keep it with their readings. */
  @Override
  public abstract long wallNanos();
}
