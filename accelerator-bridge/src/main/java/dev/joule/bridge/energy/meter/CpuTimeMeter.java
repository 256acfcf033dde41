package dev.joule.bridge.energy.meter;

import dev.joule.bridge.energy.CpuTimeEstimator;
import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.EnergyMethod;
import dev.joule.bridge.energy.PowerProfile;
import java.util.List;

/** The CPU-time estimate ({@link CpuTimeEstimator}) as a meter: always available, never measured. */
public record CpuTimeMeter(PowerProfile profile) implements EnergyEstimator {

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
    return CpuTimeEstimator.estimate(w.threadCpuNanos(), w.wallNanos(), w.memoryGbAttributed(), profile);
  }
}
