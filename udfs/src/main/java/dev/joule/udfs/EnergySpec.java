package dev.joule.udfs;

import dev.joule.bridge.energy.OpsBytesModel;
import dev.joule.bridge.energy.PowerProfile;
import java.io.Serializable;
import java.util.List;

/**
 * What an executor needs to turn measured time into energy figures: every hardware power profile
 * (each executor picks by its own CPU model), the ops/bytes model, the task slots per executor
 * (to attribute the executor's memory to a task for the DRAM estimate), and which measured meter
 * to use ({@code auto}, {@code rapl} or {@code estimate}; see {@link ExecutorMeters}).
 */
public record EnergySpec(List<PowerProfile> powerProfiles, OpsBytesModel opsBytes, int slotsPerExecutor,
    String meter) implements Serializable {

  public EnergySpec(List<PowerProfile> powerProfiles, OpsBytesModel opsBytes, int slotsPerExecutor) {
    this(powerProfiles, opsBytes, slotsPerExecutor, "auto");
  }

  public EnergySpec {
    if (!List.of("auto", "rapl", "estimate").contains(meter)) {
      throw new IllegalArgumentException("energy meter must be auto, rapl or estimate, got '" + meter + "'");
    }
    powerProfiles = List.copyOf(powerProfiles);
    if (slotsPerExecutor < 1) {
      throw new IllegalArgumentException("slotsPerExecutor must be >= 1");
    }
  }
}
