package dev.joule.udfs;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;

/** Where a task runs, for its energy row: its identity, executor and host, and the JVM's GC time. */
public final class TaskPlace {
  private TaskPlace() {}

  /** The task attempt doing the work; outside a Spark task (a unit test), a placeholder. */
  public static EnergyRecord.TaskIdentity identity(TaskContext task) {
    return task == null
        ? new EnergyRecord.TaskIdentity(-1, -1, -1, -1, 0, "none", "localhost")
        : new EnergyRecord.TaskIdentity(task.stageId(), task.stageAttemptNumber(), task.partitionId(),
            task.taskAttemptId(), task.attemptNumber(), executorId(), host());
  }

  /** GC time of the whole JVM so far (shared by its concurrent tasks). */
  public static long gcNanos() {
    long ms = 0;
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      ms += Math.max(0, gc.getCollectionTime());
    }
    return ms * 1_000_000L;
  }

  private static String executorId() {
    SparkEnv env = SparkEnv.get();
    return env == null ? "unknown" : env.executorId();
  }

  private static String host() {
    SparkEnv env = SparkEnv.get();
    return env == null ? "unknown" : env.blockManager().blockManagerId().host();
  }
}
