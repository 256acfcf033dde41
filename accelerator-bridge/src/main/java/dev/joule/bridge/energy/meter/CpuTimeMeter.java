package dev.joule.bridge.energy.meter;

import dev.joule.bridge.energy.CpuTimeEstimator;
import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.EnergyMethod;
import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.OpsBytesModel;
import dev.joule.bridge.energy.PowerProfile;
import java.util.List;

/**
 * The CPU-time estimate ({@link CpuTimeEstimator}) as a meter: always available, never measured.
 *
 * @param hardware the machine the work ran on (its installed memory and vCPUs share DRAM power)
 * @param dram the DRAM energy per byte moved (the ops/bytes model's band)
 */
public record CpuTimeMeter(PowerProfile profile, HardwareProfile hardware, OpsBytesModel dram)
    implements EnergyEstimator {

  @Override
  public String name() {
    return "cputime";
  }

  @Override
  public EnergyMethod method() {
    return EnergyMethod.ESTIMATED_CPUTIME;
  }

  @Override
  public String unavailableReason() {
    return null;
  }

  @Override
  public List<EnergyFigure> estimate(Workload w) {
    return CpuTimeEstimator.estimate(w.threadCpuNanos(), w.bytesMoved(), hardware, profile, dram);
  }
}
