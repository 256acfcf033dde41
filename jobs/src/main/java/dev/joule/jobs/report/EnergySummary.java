package dev.joule.jobs.report;

import dev.joule.bridge.energy.EnergyMethod;
import dev.joule.bridge.energy.PowerProfile;
import java.util.List;
import java.util.TreeSet;
import org.apache.spark.sql.Row;

/**
 * Energy of one run, summed from its energy_log rows (one per partition) plus the run's fixed
 * cost. All figures here are estimated or modelled unless {@link #measured()} says otherwise.
 *
 * @param fixedCpuNanos process CPU not spent inside partition tasks (driver planning, commit,
 *     Spark's own threads); meaningful in local mode where driver and executors share the JVM
 */
public record EnergySummary(int partitions, long rowsIn, long rowsScored, long rowsRejected,
    long threadCpuNanos, long kernelCpuNanos, long bytesRead, long bytesSent, double estimatedJ,
    double estimatedLowJ, double estimatedHighJ, double modelledJ, double modelledLowJ,
    double modelledHighJ, double measuredJ, long fixedCpuNanos, String vectorOps,
    PowerProfile profile, String cpuModel, int vcpus, boolean hypervisor, boolean raplAvailable,
    long ramBytes, int batchRows, List<String> methods, BridgeUsage bridge, String gpu) {

  /**
   * How the run's partitions reached their accelerator nodes.
   *
   * @param transport {@code in-process} or {@code flight(N nodes, fallback ...)}
   * @param nodes every node that answered a batch
   * @param fallbackPartitions partitions that finished in the executor after every node failed
   */
  public record BridgeUsage(String transport, List<String> nodes, int fallbackPartitions,
      long fallbackBatches, long failovers) {

    /** One line for the runs table and the console. */
    public String describe() {
      String s = transport + "; nodes " + String.join(",", nodes);
      if (failovers > 0) {
        s += "; " + failovers + " failover" + (failovers == 1 ? "" : "s");
      }
      if (fallbackBatches > 0) {
        s += "; fallback in-process: " + fallbackBatches + " batches in " + fallbackPartitions + " partitions";
      }
      return s;
    }
  }

  public static EnergySummary of(List<Row> energyRows, long fixedCpuNanos, List<PowerProfile> profiles) {
    int partitions = energyRows.size();
    long rowsIn = 0, scored = 0, rejected = 0, cpu = 0, kernel = 0, read = 0, sent = 0;
    double est = 0, estLo = 0, estHi = 0, mod = 0, modLo = 0, modHi = 0, meas = 0;
    int batchRows = 0;
    TreeSet<String> methods = new TreeSet<>();
    TreeSet<String> nodes = new TreeSet<>();
    String transport = "in-process";
    int fallbackPartitions = 0;
    long fallbackBatches = 0, failovers = 0;
    String vectorOps = "none";
    String profileName = null;
    String cpuModel = "unknown";
    int vcpus = 0;
    boolean hyper = false, rapl = false;
    String gpu = null;
    long ram = 0;
    for (Row r : energyRows) {
      rowsIn += r.<Long>getAs("rows_in");
      scored += r.<Long>getAs("rows_scored");
      rejected += r.<Long>getAs("rows_rejected");
      cpu += r.<Long>getAs("thread_cpu_ns");
      kernel += r.<Long>getAs("kernel_cpu_ns");
      read += r.<Long>getAs("bytes_read");
      sent += r.<Long>getAs("bytes_sent");
      batchRows = Math.max(batchRows, r.<Integer>getAs("batch_rows"));
      if (r.<Long>getAs("rows_scored") > 0) {
        vectorOps = r.getAs("vector_ops");
      }
      profileName = r.getAs("hw_power_profile");
      cpuModel = r.getAs("hw_cpu_model");
      vcpus = r.<Integer>getAs("hw_vcpus");
      hyper = r.<Boolean>getAs("hw_hypervisor");
      rapl = r.<Boolean>getAs("hw_rapl_available");
      ram = r.<Long>getAs("hw_ram_bytes");
      gpu = r.getAs("hw_gpu_model");
      if (r.getAs("bridge") != null) {
        transport = r.getAs("bridge");
        for (String n : String.valueOf(r.<String>getAs("node_id")).split(",")) {
          nodes.add(n);
        }
        int fb = r.<Integer>getAs("fallback_batches");
        fallbackBatches += fb;
        fallbackPartitions += fb > 0 ? 1 : 0;
        failovers += r.<Integer>getAs("failovers");
      }
      for (Row f : r.<Row>getList(r.fieldIndex("energy"))) {
        String method = f.getAs("method");
        methods.add(method);
        double j = f.getAs("joules");
        double lo = f.getAs("joules_low");
        double hi = f.getAs("joules_high");
        if (method.equals(EnergyMethod.ESTIMATED_CPUTIME.label())) {
          est += j;
          estLo += lo;
          estHi += hi;
        } else if (method.equals(EnergyMethod.MODELLED_OPS_BYTES.label())) {
          mod += j;
          modLo += lo;
          modHi += hi;
        } else {
          meas += j;
        }
      }
    }
    PowerProfile profile = profileNamed(profileName, profiles);
    return new EnergySummary(partitions, rowsIn, scored, rejected, cpu, kernel, read, sent, est,
        estLo, estHi, mod, modLo, modHi, meas, fixedCpuNanos, vectorOps, profile, cpuModel, vcpus,
        hyper, rapl, ram, batchRows, List.copyOf(methods),
        new BridgeUsage(transport, List.copyOf(nodes), fallbackPartitions, fallbackBatches, failovers),
        gpu == null ? "not probed" : gpu);
  }

  /** The profile the rows were estimated with (by name), else the generic one. */
  static PowerProfile profileNamed(String name, List<PowerProfile> profiles) {
    return profiles.stream().filter(p -> p.name().equals(name)).findFirst()
        .orElseGet(() -> PowerProfile.choose(profiles, "unknown"));
  }

  public boolean measured() {
    return measuredJ > 0;
  }

  /** Estimated joules of the kernel calls alone (node-reported CPU time × typical W/vCPU). */
  public double kernelEstimatedJ() {
    return kernelCpuNanos / 1e9 * profile.cpuWattsTypical();
  }

  public double fixedEstimatedJ() {
    return fixedCpuNanos / 1e9 * profile.cpuWattsTypical();
  }

  public double fixedEstimatedLowJ() {
    return fixedCpuNanos / 1e9 * profile.cpuWattsLow();
  }

  public double fixedEstimatedHighJ() {
    return fixedCpuNanos / 1e9 * profile.cpuWattsHigh();
  }

  /** Per 1,000 scored rows; NaN when nothing was scored. */
  public double per1k(double joules) {
    return rowsScored == 0 ? Double.NaN : joules / rowsScored * 1000.0;
  }
}
