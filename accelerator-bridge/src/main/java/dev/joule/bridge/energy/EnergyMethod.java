package dev.joule.bridge.energy;

/** How an energy figure was obtained. Printed next to every figure. */
public enum EnergyMethod {
  /** RAPL counters read around the work. */
  MEASURED_RAPL("measured_rapl"),
  /** NVML total energy counter read around the work. */
  MEASURED_NVML("measured_nvml"),
  /** Thread CPU time × an assumed per-vCPU power band, plus DRAM W/GB × time. */
  ESTIMATED_CPUTIME("estimated_cputime"),
  /** Counted operations and bytes moved × per-op / per-byte energies (Horowitz, ISSCC 2014). */
  MODELLED_OPS_BYTES("modelled_ops_bytes");

  private final String label;

  EnergyMethod(String label) {
    this.label = label;
  }

  public String label() {
    return label;
  }

  public boolean measured() {
    return this == MEASURED_RAPL || this == MEASURED_NVML;
  }
}
