package dev.joule.bridge.energy.meter;

import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.EnergyMethod;
import dev.joule.bridge.energy.OpsBytesModel;
import java.util.List;

/** The ops/bytes model as a meter: always available, relative only. */
public record OpsBytesMeter(OpsBytesModel model) implements EnergyEstimator {

  @Override
  public String name() {
    return "ops-bytes";
  }

  @Override
  public EnergyMethod method() {
    return EnergyMethod.MODELLED_OPS_BYTES;
  }

  @Override
  public String unavailableReason() {
    return null;
  }

  @Override
  public List<EnergyFigure> estimate(Workload w) {
    return model.model(w.counted());
  }
}
