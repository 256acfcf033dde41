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

  /** The tables a run writes before its runs row, in the order it writes them. */
  public java.util.List<String> dataTables() {
    return java.util.List.of(predictions(), rejects(), energyLog());
  }

  /** Refuses, before any work, an output whose table paths hold something that is not a Delta table. */
  public void requireWritable(org.apache.spark.sql.SparkSession spark) {
    dev.joule.jobs.delta.OutputPaths.requireFolder(spark, root, "output");
    for (String t : java.util.List.of(predictions(), rejects(), energyLog(), runs())) {
      dev.joule.jobs.delta.OutputPaths.requireWritable(spark, t, "output table");
    }
  }

  /**
   * Undoes the commits of crashed runs on these tables ({@link dev.joule.jobs.delta.RunRecovery}).
   */
  public java.util.List<dev.joule.jobs.delta.RunRecovery.Recovered> recover(org.apache.spark.sql.SparkSession spark,
      java.time.Duration grace) {
    return dev.joule.jobs.delta.RunRecovery.recover(spark, dataTables(), runs(), grace);
  }

  /** Scratch space for a run's staged output; removed when the run ends, whatever happens. */
  public String staging(String runId) {
    return root + "/_joule_staging/" + runId;
  }
}
