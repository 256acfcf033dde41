package dev.joule.jobs.config;

import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.internal.SQLConf;

/**
 * What a run on the driver alone reads and writes files with: the Hadoop configuration and
 * Spark's SQL settings (Parquet's among them) a session of the same configuration has, and the
 * task slots the machine's energy is shared among. Taken from a session where there is one, or
 * made without one ({@link #withoutSession}) for a run that never starts Spark.
 */
public record DriverSettings(Configuration hadoop, SQLConf sql, int slots) {

  /** A session's own settings. */
  public static DriverSettings of(SparkSession spark) {
    return new DriverSettings(spark.sessionState().newHadoopConf(), spark.sessionState().conf(),
        JouleSpark.slotsPerExecutor(spark));
  }

  /**
   * The settings {@link JouleSpark#session} would give a local session of {@code config}: its
   * {@code spark.hadoop.*} and {@code spark.sql.*} keys (the user's {@code spark.conf} and this
   * JVM's system properties), Joule's local file systems, and {@code local[N]}'s N slots. Empty,
   * with the reason in {@code why}, where the session would not be local: its files and settings
   * are the cluster's, which only a session knows.
   */
  public static Optional<DriverSettings> withoutSession(JouleConfig config, StringBuilder why) {
    SparkConf probe = new SparkConf(); // spark.* system properties, as spark-submit sets them
    if (probe.contains("spark.master")) {
      why.append("the master is spark-submit's (").append(probe.get("spark.master")).append(')');
      return Optional.empty();
    }
    String master = config.string("spark.master");
    int cores = JouleSpark.localCores(master);
    if (cores <= 0) {
      why.append("spark.master ").append(master).append(" is not local");
      return Optional.empty();
    }
    Configuration hadoop = new Configuration(DataPaths.driverHadoopConf());
    SQLConf sql = new SQLConf();
    JouleSpark.localFileSystems(probe, config.sparkConf(), hadoop).forEach((k, v) -> hadoop.set(strip(k), v));
    for (scala.Tuple2<String, String> e : probe.getAll()) {
      put(e._1(), e._2(), hadoop, sql);
    }
    for (Map.Entry<String, String> e : config.sparkConf().entrySet()) {
      put(e.getKey(), e.getValue(), hadoop, sql);
    }
    // A Delta log store (a DynamoDB-coordinated S3 store, say) is Delta Spark's to use: a Kernel
    // commit would bypass it. (The session's Hadoop configuration holds such keys of Spark's.)
    java.util.List<String> keys = new java.util.ArrayList<>(config.sparkConf().keySet());
    hadoop.forEach(e -> keys.add(e.getKey()));
    for (scala.Tuple2<String, String> e : probe.getAll()) {
      keys.add(e._1());
    }
    Optional<String> store = keys.stream().filter(k -> k.contains("delta.logStore.")).findFirst();
    if (store.isPresent()) {
      why.append("a Delta log store is configured (").append(store.get()).append(')');
      return Optional.empty();
    }
    return Optional.of(new DriverSettings(hadoop, sql, cores));
  }

  private static void put(String key, String value, Configuration hadoop, SQLConf sql) {
    if (key.startsWith("spark.hadoop.")) {
      hadoop.set(strip(key), value);
    } else if (key.startsWith("spark.sql.")) {
      sql.setConfString(key, value);
    }
  }

  private static String strip(String sparkHadoopKey) {
    return sparkHadoopKey.substring("spark.hadoop.".length());
  }
}
