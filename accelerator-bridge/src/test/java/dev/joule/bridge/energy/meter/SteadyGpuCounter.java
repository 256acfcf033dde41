package dev.joule.bridge.energy.meter;

import java.util.Map;

/**
 * A stand-in for a GPU's NVML counter in tests with real threads and sockets: the board draws a
 * steady {@code watts} on the real wall clock. It is also the ledger's wall clock, stamped at its
 * last reading, so a segment's idle part is exactly {@code idle watts × its time}.
 */
public final class SteadyGpuCounter extends FakeNvmlCounter {

  private final double watts;
  private final long origin = System.nanoTime();
  private long lastRead = origin;
  private int reads;

  public SteadyGpuCounter(double watts) {
    this.watts = watts;
  }

  @Override
  public synchronized Map<String, Double> readJoules() {
    reads++;
    lastRead = System.nanoTime();
    return Map.of("gpu", (lastRead - origin) / 1e9 * watts);
  }

  /** Joules since the counter was made, as of its last reading. */
  public synchronized double joulesSoFar() {
    return (lastRead - origin) / 1e9 * watts;
  }

  public synchronized int reads() {
    return reads;
  }

  @Override
  public synchronized long wallNanos() {
    return lastRead;
  }

  @Override
  public String describe() {
    return "a steady " + watts + " W test GPU";
  }
}
