package dev.joule.udfs;

import dev.joule.bridge.energy.OpsBytesModel;
import dev.joule.bridge.energy.PowerProfile;
import java.io.Serializable;
import java.util.List;

/**
 * What an executor needs to turn measured time into energy figures: every hardware power profile
 * (each executor picks by its own CPU model), the ops/bytes model, and the task slots per
 * executor (to attribute the executor's memory to a task for the DRAM estimate).
 */
public record EnergySpec(List<PowerProfile> powerProfiles, OpsBytesModel opsBytes, int slotsPerExecutor)
    implements Serializable {

  public EnergySpec {
    powerProfiles = List.copyOf(powerProfiles);
    if (slotsPerExecutor < 1) {
      throw new IllegalArgumentException("slotsPerExecutor must be >= 1");
    }
  }
}
