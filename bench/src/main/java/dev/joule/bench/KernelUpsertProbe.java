package dev.joule.bench;

import io.delta.kernel.defaults.engine.DefaultEngine;
import io.delta.kernel.engine.Engine;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A probe: the predictions commit of a night with no Spark session ({@code KernelUpsert}), alone,
 * in a fresh JVM: marks the rows of {@code KEYS} ids (every {@code STEP}-th id from 0) of model
 * {@code MODEL} in a copy of a night's predictions table (its key indexes searched), adding no
 * file. Prints the commit's outcome and CPU.
 *
 * <p>Usage: {@code KernelUpsertProbe TABLE MODEL KEYS STEP}.
 */
public final class KernelUpsertProbe {

  private KernelUpsertProbe() {}

  public static void main(String[] args) throws Exception {
    var threads = ManagementFactory.getThreadMXBean();
    String table = Path.of(args[0]).toAbsolutePath().toUri().toString();
    String model = args[1];
    int n = Integer.parseInt(args[2]);
    long step = Long.parseLong(args[3]);
    org.apache.hadoop.conf.Configuration conf = new org.apache.hadoop.conf.Configuration();
    conf.set("fs.file.impl", dev.joule.udfs.files.NioLocalFileSystem.class.getName());
    conf.set("fs.AbstractFileSystem.file.impl", dev.joule.udfs.files.NioLocalFs.class.getName());
    Engine engine = DefaultEngine.create(conf);
    Set<Object> keys = new HashSet<>();
    for (long i = 0; i < n; i++) {
      keys.add(i * step);
    }
    var schema = (org.apache.spark.sql.types.StructType) org.apache.spark.sql.types.DataType.fromJson(
        ((io.delta.kernel.internal.SnapshotImpl) io.delta.kernel.TableManager.loadSnapshot(table).build(engine))
            .getMetadata().getSchemaString());
    long t = threads.getCurrentThreadCpuTime();
    var outcome = dev.joule.jobs.delta.KernelUpsert.commit(engine, conf, table, schema, java.util.List.of(), Map.of(), "id", keys,
        Map.of("model_id", model), Optional.empty(), 20_000_000);
    long spent = threads.getCurrentThreadCpuTime() - t;
    var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    System.out.printf(Locale.ROOT, "%s%n  commit: %.1f ms main-thread CPU; process CPU %.2f s; JVM up %.2f s; "
        + "Spark classes loaded: %s%n", outcome, spent / 1e6, os.getProcessCpuTime() / 1e9,
        ManagementFactory.getRuntimeMXBean().getUptime() / 1e3, sparkSessionClassLoaded());
  }

  /** Whether a SparkSession was ever made in this JVM (its class loaded is not enough: asked of the session). */
  private static String sparkSessionClassLoaded() {
    try {
      return org.apache.spark.sql.SparkSession.getActiveSession().isDefined() ? "an active session" : "no session";
    } catch (Throwable e) {
      return "no session (" + e + ")";
    }
  }
}
