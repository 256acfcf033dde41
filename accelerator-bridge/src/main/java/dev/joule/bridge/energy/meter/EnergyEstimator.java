package dev.joule.bridge.energy.meter;

import dev.joule.bridge.energy.EnergyFigure;
import java.util.List;

/** Energy figures derived from what a span of work did, where nothing measures it. */
public interface EnergyEstimator extends EnergyMeter {

  List<EnergyFigure> estimate(Workload work);
}
