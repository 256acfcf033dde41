package dev.joule.jobs.score;

/** The Delta tables a scoring job writes under its output folder. */
public record OutputTables(String root) {
  public String predictions() {
    return root + "/predictions";
  }

  public String rejects() {
    return root + "/rejects";
  }

  public String energyLog() {
    return root + "/energy_log";
  }

  public String runs() {
    return root + "/runs";
  }

  /** Scratch space for a run's staged output; removed when the run ends, whatever happens. */
  public String staging(String runId) {
    return root + "/_joule_staging/" + runId;
  }
}
