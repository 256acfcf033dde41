package dev.joule.jobs.report;

import dev.joule.bridge.energy.CpuTimeEstimator;
import dev.joule.bridge.energy.EnergyMethod;
import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.PowerProfile;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.sql.Row;

/**
 * Energy of one run, summed from its energy_log rows (one per partition) plus the run's fixed
 * cost. All figures here are estimated or modelled unless {@link #measured()} says otherwise.
 *
 * @param fixedCpuNanos process CPU not spent inside partition tasks (driver planning, commit,
 *     Spark's own threads); meaningful in local mode where driver and executors share the JVM
 * @param estimatedParts the estimate's typical joules by component: cpu, dram_background, dram_traffic
 * @param bytesWritten bytes of the files the tasks wrote (0 where Spark wrote them after the tasks)
 * @param loadAvg1m the machine's mean 1-minute load average over the run's partitions (the
 *     driver's at the end when there were none); NaN where the OS gives none
 * @param jvmRunsBefore runs this JVM had started before this one: 0 is a cold JVM, whose figures
 *     include JIT compilation; -1 where unknown (a run read back from before this was recorded)
 * @param measuredParts measured joules by {@code method component} (e.g. {@code measured_nvml gpu},
 *     {@code measured_nvml gpu_idle}); they add up to {@code measuredJ}
 * @param unmeasuredPartitions partitions that scored rows with no measured figure (a run measured
 *     in part covers only some of its rows)
 */
public record EnergySummary(int partitions, long rowsIn, long rowsScored, long rowsRejected,
    long threadCpuNanos, long kernelCpuNanos, long bytesRead, long bytesSent, double estimatedJ,
    double estimatedLowJ, double estimatedHighJ, double modelledJ, double modelledLowJ,
    double modelledHighJ, double measuredJ, long fixedCpuNanos, String vectorOps,
    PowerProfile profile, String cpuModel, int vcpus, boolean hypervisor, boolean raplAvailable,
    long ramBytes, int batchRows, List<String> methods, BridgeUsage bridge, String gpu,
    EstimateParts estimatedParts, long bytesWritten, double loadAvg1m, int jvmRunsBefore,
    Map<String, Double> measuredParts, int unmeasuredPartitions) {

  public EnergySummary {
    measuredParts = java.util.Collections.unmodifiableMap(new TreeMap<>(measuredParts));
  }

  /** Typical joules of the estimate's three labelled parts; they add up to {@code estimatedJ}. */
  public record EstimateParts(double cpuJ, double dramBackgroundJ, double dramTrafficJ) {}

  private static final AtomicInteger RUNS_STARTED = new AtomicInteger();

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

  /**
   * Marks a run's start in this JVM and returns how many runs started in it before (a static:
   * it counts what this JVM has compiled and warmed, which is the JVM's own state). A job calls
   * it once, where its run starts, and passes the answer to {@link #of}.
   */
  public static int startRun() {
    return RUNS_STARTED.getAndIncrement();
  }

  /** Gives back a {@link #startRun()} whose run handed its work to another (a night the driver did not take). */
  public static void abandonRun() {
    RUNS_STARTED.decrementAndGet();
  }

  /**
   * A run of this JVM: with no partitions, the hardware is this JVM's machine (the driver ran the
   * run) and the load is its load now, never "unknown".
   *
   * @param jvmRunsBefore {@link #startRun()}'s answer at the run's start
   */
  public static EnergySummary of(List<Row> energyRows, long fixedCpuNanos, List<PowerProfile> profiles,
      int jvmRunsBefore) {
    EnergySummary e = of(energyRows, fixedCpuNanos, profiles, HardwareProfile.detect(), jvmRunsBefore);
    if (e.partitions() == 0) {
      Double load = dev.joule.udfs.EnergyRecord.loadAverage();
      return e.withLoad(load == null ? Double.NaN : load);
    }
    return e;
  }

  EnergySummary withLoad(double load) {
    return new EnergySummary(partitions, rowsIn, rowsScored, rowsRejected, threadCpuNanos, kernelCpuNanos, bytesRead,
        bytesSent, estimatedJ, estimatedLowJ, estimatedHighJ, modelledJ, modelledLowJ, modelledHighJ, measuredJ,
        fixedCpuNanos, vectorOps, profile, cpuModel, vcpus, hypervisor, raplAvailable, ramBytes, batchRows, methods,
        bridge, gpu, estimatedParts, bytesWritten, load, jvmRunsBefore, measuredParts, unmeasuredPartitions);
  }

  /**
   * @param noRows the machine the run's driver ran on, for a run without partitions
   * @param jvmRunsBefore see the record's parameter
   */
  public static EnergySummary of(List<Row> energyRows, long fixedCpuNanos, List<PowerProfile> profiles,
      HardwareProfile noRows, int jvmRunsBefore) {
    int partitions = energyRows.size();
    long rowsIn = 0, scored = 0, rejected = 0, cpu = 0, kernel = 0, read = 0, sent = 0, written = 0;
    double est = 0, estLo = 0, estHi = 0, mod = 0, modLo = 0, modHi = 0, meas = 0;
    double estCpu = 0, estBackground = 0, estTraffic = 0, loadSum = 0;
    int loads = 0;
    int batchRows = 0;
    TreeSet<String> methods = new TreeSet<>();
    Map<String, Double> measuredParts = new TreeMap<>();
    TreeSet<String> nodes = new TreeSet<>();
    int unmeasured = 0;
    String transport = "in-process";
    int fallbackPartitions = 0;
    long fallbackBatches = 0, failovers = 0;
    String vectorOps = "none";
    String profileName = null;
    String cpuModel = noRows.cpuModel();
    int vcpus = noRows.vcpus();
    boolean hyper = noRows.hypervisor(), rapl = noRows.raplAvailable();
    String gpu = noRows.gpuModel();
    long ram = noRows.ramBytes();
    for (Row r : energyRows) {
      rowsIn += r.<Long>getAs("rows_in");
      scored += r.<Long>getAs("rows_scored");
      rejected += r.<Long>getAs("rows_rejected");
      cpu += r.<Long>getAs("thread_cpu_ns");
      kernel += r.<Long>getAs("kernel_cpu_ns");
      read += r.<Long>getAs("bytes_read");
      sent += r.<Long>getAs("bytes_sent");
      written += longOr(r, "bytes_written");
      Double load = doubleOr(r, "load_avg_1m");
      if (load != null) {
        loadSum += load;
        loads++;
      }
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
      boolean rowMeasured = false;
      for (Row f : r.<Row>getList(r.fieldIndex("energy"))) {
        String method = f.getAs("method");
        methods.add(method);
        double j = f.getAs("joules");
        double lo = f.getAs("joules_low");
        double hi = f.getAs("joules_high");
        if (method.equals(EnergyMethod.ESTIMATED_CPUTIME.label())) {
          switch (f.<String>getAs("component")) {
            case "dram_background" -> estBackground += j;
            case "dram_traffic" -> estTraffic += j;
            // Rows written before the estimate was split had one DRAM term (heap x wall time).
            case "dram" -> estBackground += j;
            default -> estCpu += j; // cpu, and a remote node's node_cpu
          }
          est += j;
          estLo += lo;
          estHi += hi;
        } else if (method.equals(EnergyMethod.MODELLED_OPS_BYTES.label())) {
          mod += j;
          modLo += lo;
          modHi += hi;
        } else {
          meas += j;
          measuredParts.merge(method + " " + f.<String>getAs("component"), j, Double::sum);
          rowMeasured = true;
        }
      }
      if (!rowMeasured && r.<Long>getAs("rows_scored") > 0) {
        unmeasured++;
      }
    }
    PowerProfile profile = profileName != null ? profileNamed(profileName, profiles)
        : PowerProfile.choose(profiles, cpuModel);
    return new EnergySummary(partitions, rowsIn, scored, rejected, cpu, kernel, read, sent, est,
        estLo, estHi, mod, modLo, modHi, meas, fixedCpuNanos, vectorOps, profile, cpuModel, vcpus,
        hyper, rapl, ram, batchRows, List.copyOf(methods),
        new BridgeUsage(transport, List.copyOf(nodes), fallbackPartitions, fallbackBatches, failovers),
        gpu == null ? "not probed" : gpu, new EstimateParts(estCpu, estBackground, estTraffic), written,
        loads == 0 ? Double.NaN : loadSum / loads, jvmRunsBefore, measuredParts, measured(meas) ? unmeasured : 0);
  }

  /** A column an older energy_log lacks reads as 0 / null. */
  private static long longOr(Row r, String column) {
    int i = fieldIndex(r, column);
    return i < 0 || r.isNullAt(i) ? 0 : r.getLong(i);
  }

  private static Double doubleOr(Row r, String column) {
    int i = fieldIndex(r, column);
    return i < 0 || r.isNullAt(i) ? null : r.getDouble(i);
  }

  private static int fieldIndex(Row r, String column) {
    return r.schema() != null && java.util.Arrays.asList(r.schema().fieldNames()).contains(column)
        ? r.fieldIndex(column) : -1;
  }

  /** The machine's facts as the run recorded them. */
  public HardwareProfile hardware() {
    return new HardwareProfile(cpuModel, vcpus, hypervisor, ramBytes, raplAvailable, gpu);
  }

  /** Watts one busy vCPU is charged by the estimate, typical: its power band plus its DRAM background share. */
  public double busyVcpuWattsTypical() {
    return profile.cpuWattsTypical() + CpuTimeEstimator.backgroundWattsPerBusyVcpu(hardware(), profile);
  }

  /** The profile the rows were estimated with (by name), else the generic one. */
  static PowerProfile profileNamed(String name, List<PowerProfile> profiles) {
    return profiles.stream().filter(p -> p.name().equals(name)).findFirst()
        .orElseGet(() -> PowerProfile.choose(profiles, "unknown"));
  }

  public boolean measured() {
    return measured(measuredJ);
  }

  private static boolean measured(double joules) {
    return joules > 0;
  }

  /** Measured, on every partition that scored rows. */
  public boolean whollyMeasured() {
    return measured() && unmeasuredPartitions == 0;
  }

  /**
   * Whether this run's measured joules and {@code other}'s can be compared: both measured on every
   * partition, the same parts (a GPU node's board against an executor's socket is no ratio), on
   * the same kind of device (the GPU backend that scored, for NVML; the CPU model, for RAPL).
   */
  public boolean measuredLike(EnergySummary other) {
    if (!whollyMeasured() || !other.whollyMeasured() || !measuredParts.keySet().equals(other.measuredParts.keySet())) {
      return false;
    }
    boolean gpu = measuredParts.keySet().stream().anyMatch(p -> p.startsWith("measured_nvml"));
    boolean socket = measuredParts.keySet().stream().anyMatch(p -> p.startsWith("measured_rapl"));
    return (!gpu || vectorOps.equals(other.vectorOps)) && (!socket || cpuModel.equals(other.cpuModel));
  }

  /** Estimated joules of the kernel calls alone (their CPU time × typical W and DRAM background per busy vCPU). */
  public double kernelEstimatedJ() {
    return kernelCpuNanos / 1e9 * busyVcpuWattsTypical();
  }

  /** The run's fixed part: process CPU outside tasks × (power band + DRAM background per busy vCPU). */
  public double fixedEstimatedJ() {
    return fixedCpuNanos / 1e9 * busyVcpuWattsTypical();
  }

  public double fixedEstimatedLowJ() {
    return fixedCpuNanos / 1e9 * (profile.cpuWattsLow() + background());
  }

  public double fixedEstimatedHighJ() {
    return fixedCpuNanos / 1e9 * (profile.cpuWattsHigh() + background());
  }

  private double background() {
    return CpuTimeEstimator.backgroundWattsPerBusyVcpu(hardware(), profile);
  }

  /** Per 1,000 scored rows; NaN when nothing was scored. */
  public double per1k(double joules) {
    return rowsScored == 0 ? Double.NaN : joules / rowsScored * 1000.0;
  }
}
