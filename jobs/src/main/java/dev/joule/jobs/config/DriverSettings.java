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
    // As a session makes it: Spark's own Hadoop configuration of the settings (spark.hadoop.*,
    // the S3 keys from AWS_* variables, spark.buffer.size), then every setting copied as
    // sessionState().newHadoopConf() copies the session's.
    SparkConf spark = probe.clone();
    JouleSpark.localFileSystems(probe, config.sparkConf(), DataPaths.driverHadoopConf()).forEach(spark::set);
    config.sparkConf().forEach(spark::set);
    Configuration hadoop = org.apache.spark.deploy.SparkHadoopUtil.get().newConfiguration(spark);
    SQLConf sql = new SQLConf();
    for (scala.Tuple2<String, String> e : spark.getAll()) {
      hadoop.set(e._1(), e._2());
      if (e._1().startsWith("spark.sql.")) {
        sql.setConfString(e._1(), e._2());
      }
    }
    // A Delta log store (a DynamoDB-coordinated S3 store, say) is Delta Spark's to use: a Kernel
    // commit would bypass it. (Every setting is in the Hadoop configuration now.)
    for (Map.Entry<String, String> e : hadoop) {
      String k = e.getKey();
      if (k.startsWith("spark.delta.logStore.") || k.startsWith("delta.logStore.")) {
        why.append("a Delta log store is configured (").append(k).append(')');
        return Optional.empty();
      }
    }
    return Optional.of(new DriverSettings(hadoop, sql, cores));
  }
}
