package dev.joule.bridge.energy.meter;

import java.util.Map;

/**
 * A measured counter for tests, standing in for RAPL: every reading gains {@code cpuStep} joules
 * of cpu and a quarter of that of dram, and is counted.
 */
public final class SteppingCounter extends FakeRaplCounter {

  private final double cpuStep;
  private double cpu;
  private int reads;

  public SteppingCounter(double cpuStep) {
    this.cpuStep = cpuStep;
  }

  public synchronized int reads() {
    return reads;
  }

  @Override
  public synchronized Map<String, Double> readJoules() {
    reads++;
    cpu += cpuStep;
    return Map.of("cpu", cpu, "dram", cpu / 4);
  }
}
