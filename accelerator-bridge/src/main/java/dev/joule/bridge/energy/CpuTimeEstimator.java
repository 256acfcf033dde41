package dev.joule.bridge.energy;

import java.util.List;

/**
 * The estimate used where no meter exists, in three labelled parts:
 * <ul>
 *   <li>{@code cpu}: thread CPU seconds × the profile's per-vCPU power band;</li>
 *   <li>{@code dram_background}: the machine's DRAM background power (installed GB × W/GB, a
 *       hardware fact, not the JVM's heap) shared among its vCPUs and charged per second a vCPU is
 *       busy with the task, so a task pays its share whatever {@code -Xmx} is and whatever else
 *       loads the machine (time spent waiting for a vCPU is not charged);</li>
 *   <li>{@code dram_traffic}: bytes the task moved (read, sent, written) × DRAM energy per byte
 *       (the ops/bytes model's DRAM access band).</li>
 * </ul>
 * The cpu and background parts are proportional to CPU time; traffic is not, so a ratio of two
 * estimates is a CPU-time ratio up to the traffic term, which the claim card prints beside it.
 */
public final class CpuTimeEstimator {

  private CpuTimeEstimator() {}

  /** The CPU part alone: a remote node's kernel time, whose memory is the executor's to account. */
  public static EnergyFigure cpu(long threadCpuNanos, PowerProfile p) {
    double cpuS = threadCpuNanos / 1e9;
    return new EnergyFigure("cpu", EnergyMethod.ESTIMATED_CPUTIME, "exclusive",
        cpuS * p.cpuWattsTypical(), cpuS * p.cpuWattsLow(), cpuS * p.cpuWattsHigh());
  }

  /** Watts of DRAM background power one busy vCPU carries: installed GB × W/GB ÷ vCPUs. */
  public static double backgroundWattsPerBusyVcpu(HardwareProfile hw, PowerProfile p) {
    return memoryGbPerVcpu(hw) * p.dramWattsPerGb();
  }

  /** The machine's installed memory per vCPU, in GB (10^9 bytes): what the background term shares. */
  public static double memoryGbPerVcpu(HardwareProfile hw) {
    return hw.ramBytes() / 1e9 / Math.max(1, hw.vcpus());
  }

  public static List<EnergyFigure> estimate(long threadCpuNanos, long bytesMoved, HardwareProfile hw,
      PowerProfile p, OpsBytesModel dram) {
    double cpuS = threadCpuNanos / 1e9;
    double background = cpuS * backgroundWattsPerBusyVcpu(hw, p);
    double trafficLow = bytesMoved * dram.dramPjPerByteLow() * 1e-12;
    double trafficHigh = bytesMoved * dram.dramPjPerByteHigh() * 1e-12;
    return List.of(cpu(threadCpuNanos, p),
        // DRAM power per GB is one coefficient (CCF); its uncertainty is not modelled, so no band.
        new EnergyFigure("dram_background", EnergyMethod.ESTIMATED_CPUTIME, "busy_vcpu_share",
            background, background, background),
        new EnergyFigure("dram_traffic", EnergyMethod.ESTIMATED_CPUTIME, "exclusive",
            (trafficLow + trafficHigh) / 2, trafficLow, trafficHigh));
  }
}
