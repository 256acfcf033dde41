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

  /** All four, the runs table last. */
  public java.util.List<String> all() {
    return java.util.List.of(predictions(), rejects(), energyLog(), runs());
  }

  /**
   * A commit of run {@code runId} to these tables: those it creates get their checkpoints from
   * Delta Kernel ({@link dev.joule.jobs.delta.TableCommit#keepingCheckpointsOf}), so that every
   * command writing output tables hands them over alike.
   */
  public dev.joule.jobs.delta.TableCommit commit(org.apache.spark.sql.SparkSession spark, String runId) {
    return new dev.joule.jobs.delta.TableCommit(spark, runId).keepingCheckpointsOf(all());
  }

  /** As {@link #commit(org.apache.spark.sql.SparkSession, String)}, reading logs through {@code engine}. */
  public dev.joule.jobs.delta.TableCommit commit(org.apache.spark.sql.SparkSession spark, String runId,
      io.delta.kernel.engine.Engine engine) {
    return new dev.joule.jobs.delta.TableCommit(spark, runId, engine).keepingCheckpointsOf(all());
  }

  /** Refuses, before any work, an output whose table paths hold something that is not a Delta table. */
  public void requireWritable(org.apache.spark.sql.SparkSession spark) {
    requireWritable(spark.sparkContext().hadoopConfiguration());
  }

  /** As above, with the file systems of {@code conf}. */
  public void requireWritable(org.apache.hadoop.conf.Configuration conf) {
    dev.joule.jobs.delta.OutputPaths.requireFolder(conf, root, "output");
    for (String t : all()) {
      dev.joule.jobs.delta.OutputPaths.requireWritable(conf, t, "output table");
    }
  }

  /**
   * Undoes the commits of crashed runs on these tables ({@link dev.joule.jobs.delta.RunRecovery}).
   */
  public java.util.List<dev.joule.jobs.delta.RunRecovery.Recovered> recover(org.apache.spark.sql.SparkSession spark,
      java.time.Duration grace) {
    sweepStaging(spark, grace);
    return dev.joule.jobs.delta.RunRecovery.recover(spark, dataTables(), runs(), grace);
  }

  /**
   * Removes the staging folders of runs killed before they could clean up: those in which
   * nothing was written for longer than {@code grace}, the same bound that tells a crashed run's
   * commits from a running one's. Returns the folders removed.
   */
  public java.util.List<String> sweepStaging(org.apache.spark.sql.SparkSession spark, java.time.Duration grace) {
    java.util.List<String> removed = new java.util.ArrayList<>();
    org.apache.hadoop.fs.Path dir = new org.apache.hadoop.fs.Path(root + "/_joule_staging");
    long cutoff = System.currentTimeMillis() - grace.toMillis();
    try {
      org.apache.hadoop.fs.FileSystem fs = dir.getFileSystem(spark.sparkContext().hadoopConfiguration());
      if (!fs.exists(dir)) {
        return removed;
      }
      for (org.apache.hadoop.fs.FileStatus run : fs.listStatus(dir)) {
        long newest = run.getModificationTime();
        try {
          var files = fs.listFiles(run.getPath(), true);
          while (files.hasNext()) {
            newest = Math.max(newest, files.next().getModificationTime());
          }
        } catch (java.io.IOException | RuntimeException e) {
          // Files came and went while listing (Spark's _temporary of a run writing now; the
          // local file system throws a RuntimeException for them): the run is alive, keep it.
          continue;
        }
        if (newest < cutoff && fs.delete(run.getPath(), true)) {
          removed.add(run.getPath().toString());
          LOG.warn("removed {}: staging of a run that ended without cleaning up (last written {})", run.getPath(),
              java.time.Instant.ofEpochMilli(newest));
        }
      }
      if (fs.listStatus(dir).length == 0) {
        fs.delete(dir, false);
      }
    } catch (java.io.IOException | RuntimeException e) { // a sweep never fails the run
      LOG.warn("could not sweep {}: {}", dir, e.toString());
    }
    return removed;
  }

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(OutputTables.class);

  /** Scratch space for a run's staged output; removed when the run ends, whatever happens. */
  public String staging(String runId) {
    return root + "/_joule_staging/" + runId;
  }
}
