package dev.joule.bridge.energy;

import java.util.List;

/**
 * The estimate used where no meter exists: thread CPU seconds × the profile's per-vCPU power
 * band, and DRAM as the memory attributed to the task × W/GB × wall seconds. It is proportional
 * to CPU time, so a ratio of two such estimates is a CPU-time ratio and must be reported as one.
 */
public final class CpuTimeEstimator {

  private CpuTimeEstimator() {}

  public static List<EnergyFigure> estimate(long threadCpuNanos, long wallNanos,
      double memoryGbAttributed, PowerProfile p) {
    double cpuS = threadCpuNanos / 1e9;
    double wallS = wallNanos / 1e9;
    double dram = memoryGbAttributed * p.dramWattsPerGb() * wallS;
    return List.of(
        new EnergyFigure("cpu", EnergyMethod.ESTIMATED_CPUTIME, "exclusive",
            cpuS * p.cpuWattsTypical(), cpuS * p.cpuWattsLow(), cpuS * p.cpuWattsHigh()),
        // DRAM power per GB is one coefficient (CCF); its uncertainty is not modelled, so no band.
        new EnergyFigure("dram", EnergyMethod.ESTIMATED_CPUTIME, "exclusive", dram, dram, dram));
  }
}
