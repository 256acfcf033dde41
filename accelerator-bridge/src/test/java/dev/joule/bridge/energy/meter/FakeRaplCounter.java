package dev.joule.bridge.energy.meter;

import dev.joule.bridge.energy.EnergyMethod;

/** Base of the tests' stand-ins for RAPL: always available, reports measured_rapl. */
public abstract class FakeRaplCounter implements EnergyCounter {

  @Override
  public String name() {
    return "rapl";
  }

  @Override
  public EnergyMethod method() {
    return EnergyMethod.MEASURED_RAPL;
  }

  @Override
  public String unavailableReason() {
    return null;
  }

  @Override
  public String describe() {
    return getClass().getSimpleName() + " (a test counter)";
  }
}
