package dev.joule.bridge.energy;

import java.io.Serializable;

/**
 * One energy figure for one component, with how it was obtained and how it was attributed.
 *
 * @param component {@code cpu}, {@code dram} or {@code gpu}
 * @param attribution {@code exclusive}, {@code cpu_time_share} or {@code rows_share}
 */
public record EnergyFigure(String component, EnergyMethod method, String attribution,
    double joules, double joulesLow, double joulesHigh) implements Serializable {

  public EnergyFigure {
    if (!(joulesLow <= joules && joules <= joulesHigh) || joulesLow < 0) {
      throw new IllegalArgumentException("energy bounds out of order: " + joulesLow + " <= "
          + joules + " <= " + joulesHigh);
    }
  }
}
