package dev.joule.udfs;

import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.PowerProfile;
import java.sql.Timestamp;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/** One row of the energy_log: one Spark partition attempt, with every figure's method. */
public final class EnergyRecord {

  public static final StructType FIGURE = new StructType(new StructField[] {
      DataTypes.createStructField("component", DataTypes.StringType, false),
      DataTypes.createStructField("method", DataTypes.StringType, false),
      DataTypes.createStructField("attribution", DataTypes.StringType, false),
      DataTypes.createStructField("joules", DataTypes.DoubleType, false),
      DataTypes.createStructField("joules_low", DataTypes.DoubleType, false),
      DataTypes.createStructField("joules_high", DataTypes.DoubleType, false)});

  public static final StructType SCHEMA = new StructType(new StructField[] {
      // identity
      f("run_id", DataTypes.StringType), f("job", DataTypes.StringType),
      f("stage_id", DataTypes.IntegerType), f("stage_attempt", DataTypes.IntegerType),
      f("partition_id", DataTypes.IntegerType), f("task_attempt_id", DataTypes.LongType),
      f("attempt_number", DataTypes.IntegerType), f("executor_id", DataTypes.StringType),
      f("host", DataTypes.StringType), f("node_id", DataTypes.StringType),
      // workload
      f("rows_in", DataTypes.LongType), f("rows_scored", DataTypes.LongType),
      f("rows_rejected", DataTypes.LongType), f("dim", DataTypes.IntegerType),
      f("bytes_read", DataTypes.LongType), f("bytes_sent", DataTypes.LongType),
      f("bytes_written", DataTypes.LongType),
      f("kernel_id", DataTypes.StringType), f("kernel", DataTypes.StringType),
      f("precision", DataTypes.StringType), f("vector_ops", DataTypes.StringType),
      f("batch_rows", DataTypes.IntegerType), f("batches", DataTypes.IntegerType),
      f("concurrent_tasks", DataTypes.IntegerType),
      // time
      f("started_at", DataTypes.TimestampType), f("wall_ns", DataTypes.LongType),
      f("thread_cpu_ns", DataTypes.LongType), f("kernel_cpu_ns", DataTypes.LongType),
      f("gc_ns_jvm", DataTypes.LongType), f("memory_gb_attributed", DataTypes.DoubleType),
      f("load_avg_1m", DataTypes.DoubleType),
      // energy
      f("energy", DataTypes.createArrayType(FIGURE, false)),
      // hardware
      f("hw_cpu_model", DataTypes.StringType), f("hw_vcpus", DataTypes.IntegerType),
      f("hw_hypervisor", DataTypes.BooleanType), f("hw_ram_bytes", DataTypes.LongType),
      f("hw_rapl_available", DataTypes.BooleanType), f("hw_gpu_model", DataTypes.StringType),
      f("hw_power_profile", DataTypes.StringType),
      f("hw_power_profile_generic", DataTypes.BooleanType),
      // bridge
      f("bridge", DataTypes.StringType), f("fallback_batches", DataTypes.IntegerType),
      f("failovers", DataTypes.IntegerType)});

  private static final scala.Function1<Object, Object> TO_CATALYST =
      org.apache.spark.sql.catalyst.CatalystTypeConverters.createToCatalystConverter(SCHEMA);
  private static final scala.Function1<Object, Object> FROM_CATALYST =
      org.apache.spark.sql.catalyst.CatalystTypeConverters.createToScalaConverter(SCHEMA);

  /** A task's energy row as Spark reads one back (its figures a Seq, not an array); null stays null. */
  public static Row asRead(Row taskRow) {
    return taskRow == null ? null : (Row) FROM_CATALYST.apply(TO_CATALYST.apply(taskRow));
  }

  private static StructField f(String name, org.apache.spark.sql.types.DataType t) {
    return DataTypes.createStructField(name, t, true);
  }

  private EnergyRecord() {}

  /** The machine's 1-minute load average when the record is made; null where the OS gives none. */
  public static Double loadAverage() {
    double l = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    return l < 0 ? null : l;
  }

  /** Identity of the task attempt that did the work. */
  public record TaskIdentity(int stageId, int stageAttempt, int partitionId, long taskAttemptId,
      int attemptNumber, String executorId, String host) {}

  /**
   * Workload and time counters of the partition.
   *
   * @param bytesWritten bytes of the files the task wrote; -1 (null in the table) where Spark
   *     writes the rows after the task's record is made
   * @param memoryGbAttributed the machine's installed memory per vCPU, whose background DRAM power
   *     a busy vCPU-second carries (not the JVM's heap)
   */
  public record Counters(long rowsIn, long rowsScored, long rowsRejected, long bytesRead,
      long bytesSent, long bytesWritten, int batchRows, int batches, int concurrentTasks, long startedAtMillis,
      long wallNanos, long threadCpuNanos, long kernelCpuNanos, long gcNanosJvm,
      double memoryGbAttributed) {}

  /**
   * How the partition reached its nodes.
   *
   * @param nodeIds the nodes that answered, comma-separated, in order
   * @param fallbackBatches batches scored in the executor after every node had failed
   */
  public record Bridge(String transport, String nodeIds, int fallbackBatches, int failovers) {}

  /** What did the work of a partition: the run, the job, and the kernel (or encoder) with its width. */
  public record Work(String runId, String job, int dim, String kernelId, String kernel, String precision) {
    public static Work of(ScoringSpec spec) {
      return new Work(spec.runId(), spec.job(), spec.dim(), spec.kernel().id(), spec.kernel().name(),
          spec.kernel().precision().label());
    }
  }

  public static Row toRow(ScoringSpec spec, TaskIdentity id, Bridge bridge, String vectorOps,
      Counters c, List<EnergyFigure> figures, HardwareProfile hw, PowerProfile profile) {
    return toRow(Work.of(spec), id, bridge, vectorOps, c, figures, hw, profile);
  }

  public static Row toRow(Work work, TaskIdentity id, Bridge bridge, String vectorOps,
      Counters c, List<EnergyFigure> figures, HardwareProfile hw, PowerProfile profile) {
    Row[] energy = figures.stream()
        .map(e -> new GenericRowWithSchema(new Object[] {e.component(), e.method().label(),
            e.attribution(), e.joules(), e.joulesLow(), e.joulesHigh()}, FIGURE))
        .toArray(Row[]::new);
    return new GenericRowWithSchema(new Object[] {
        work.runId(), work.job(), id.stageId(), id.stageAttempt(), id.partitionId(),
        id.taskAttemptId(), id.attemptNumber(), id.executorId(), id.host(), bridge.nodeIds(),
        c.rowsIn(), c.rowsScored(), c.rowsRejected(), work.dim(), c.bytesRead(), c.bytesSent(),
        c.bytesWritten() < 0 ? null : c.bytesWritten(),
        work.kernelId(), work.kernel(), work.precision(), vectorOps, c.batchRows(),
        c.batches(), c.concurrentTasks(),
        new Timestamp(c.startedAtMillis()), c.wallNanos(), c.threadCpuNanos(), c.kernelCpuNanos(),
        c.gcNanosJvm(), c.memoryGbAttributed(), loadAverage(),
        energy,
        hw.cpuModel(), hw.vcpus(), hw.hypervisor(), hw.ramBytes(), hw.raplAvailable(),
        hw.gpuModel(), profile.name(), profile.generic(),
        bridge.transport(), bridge.fallbackBatches(), bridge.failovers()}, SCHEMA);
  }
}
