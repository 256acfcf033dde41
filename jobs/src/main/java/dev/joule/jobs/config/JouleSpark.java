package dev.joule.jobs.config;

import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

/**
 * Builds (or joins) the Spark session a job runs in, with Delta and Joule's SQL functions enabled
 * and bound to loopback.
 */
public final class JouleSpark {

  /** Delta's extension and Joule's SQL functions ({@code joule_score}, {@code joule_energy}, ...). */
  public static final String EXTENSIONS =
      "io.delta.sql.DeltaSparkSessionExtension," + dev.joule.udfs.JouleExtensions.class.getName();

  private JouleSpark() {}

  public static SparkSession session(JouleConfig config, String appName) {
    SparkConf probe = new SparkConf();
    SparkSession.Builder b = SparkSession.builder().appName(appName)
        .config("spark.sql.extensions", EXTENSIONS)
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.shuffle.partitions", config.integer("spark.shuffle-partitions"))
        .config("spark.ui.enabled", config.bool("spark.ui"))
        .config("spark.ui.showConsoleProgress", false);
    if (!probe.contains("spark.master")) {
      // Embedded default; spark-submit's --master takes precedence when present.
      String master = config.string("spark.master");
      b.master(master);
      if (master.startsWith("local")) {
        b.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1");
        // Running tasks report their rows with each heartbeat: the console's progress moves every 2 s, not 10.
        b.config("spark.executor.heartbeatInterval", "2s");
        // Hadoop's local file system, without its native library, starts a chmod process for every
        // file it creates and two readlink processes for every rename (each Delta commit file):
        // 78 processes a small night. NioLocalFileSystem does the same through java.nio.
        localFileSystems(probe, config.sparkConf(), DataPaths.driverHadoopConf()).forEach(b::config);
      }
    }
    for (Map.Entry<String, String> e : config.sparkConf().entrySet()) {
      b.config(e.getKey(), e.getValue());
    }
    boolean fresh = SparkSession.getActiveSession().isEmpty() && SparkSession.getDefaultSession().isEmpty();
    if (fresh && !probe.contains("spark.master") && config.string("spark.master").startsWith("local")
        && !probe.contains(WAREHOUSE) && !config.sparkConf().containsKey(WAREHOUSE)) {
      b.config(WAREHOUSE, scratchWarehouse());
    }
    SparkSession spark = b.getOrCreate();
    // Delta rebuilds a table's state from its log in 50 tasks by default, sized for big tables
    // on clusters. In local mode each task costs ~27 ms of CPU whatever it holds, and a night
    // loads 4-5 tables: 50 tasks a snapshot were most of a small night's cost (bench/README.md).
    // Decided on the session's real master, and only where nobody set the key.
    int cores = localCores(spark.sparkContext().master());
    if (cores > 0 && !spark.conf().contains(SNAPSHOT_PARTITIONS)) {
      spark.conf().set(SNAPSHOT_PARTITIONS, cores);
    }
    // Spark's vectorized Parquet reader takes array<float> embeddings only with nested-column
    // vectorization, off by default (SPARK-34863); without it parquet-mr assembles every row
    // value by value. Scoring runs read the scan's columnar batches themselves (ColumnarScan).
    if (!spark.conf().contains(NESTED_VECTORIZED)) {
      spark.conf().set(NESTED_VECTORIZED, "true");
    }
    // Delta keeps a small table's file list in each commit's checksum file. To start that list,
    // the commit that creates a table runs a Spark query over the empty snapshot before it: most
    // of a new table's commit (a first score creates four). Joule reads no table's file list from
    // there: its commits list the snapshot's files themselves (FileCommit) and its inputs are
    // listed by Kernel. Measured with and without: bench/README.md, "Whole processes".
    if (!spark.conf().contains(ALL_FILES_IN_CRC)) {
      spark.conf().set(ALL_FILES_IN_CRC, "false");
    }
    return spark;
  }

  static final String ALL_FILES_IN_CRC = "spark.databricks.delta.allFilesInCrc.enabled";

  /** The {@code file:} scheme's file systems, as Hadoop keys set through Spark, for both of Hadoop's APIs. */
  static final Map<String, String> LOCAL_FILE_SYSTEMS = Map.of(
      "spark.hadoop.fs.file.impl", dev.joule.udfs.files.NioLocalFileSystem.class.getName(),
      "spark.hadoop.fs.AbstractFileSystem.file.impl", dev.joule.udfs.files.NioLocalFs.class.getName());

  /**
   * Which of {@link #LOCAL_FILE_SYSTEMS} to set: each whose key neither Spark's own settings, the
   * user's {@code spark.conf} nor their Hadoop configuration ({@code core-site.xml}, where
   * anything but Hadoop's default counts as the user's) sets.
   */
  static Map<String, String> localFileSystems(SparkConf probe, Map<String, String> sparkConf,
      org.apache.hadoop.conf.Configuration hadoop) {
    Map<String, String> set = new java.util.TreeMap<>();
    for (Map.Entry<String, String> fs : LOCAL_FILE_SYSTEMS.entrySet()) {
      String hadoopValue = hadoop.get(fs.getKey().substring("spark.hadoop.".length()));
      boolean hadoopDefault = hadoopValue == null || hadoopValue.equals("org.apache.hadoop.fs.local.LocalFs");
      if (!probe.contains(fs.getKey()) && !sparkConf.containsKey(fs.getKey()) && hadoopDefault) {
        set.put(fs.getKey(), fs.getValue());
      }
    }
    return set;
  }

  static final String SNAPSHOT_PARTITIONS = "spark.databricks.delta.snapshotPartitions";

  static final String NESTED_VECTORIZED = "spark.sql.parquet.enableNestedColumnVectorizedReader";

  static final String WAREHOUSE = "spark.sql.warehouse.dir";

  /**
   * The embedded default's warehouse folder. Joule reads and writes tables by path and creates no
   * managed tables, but Spark's catalog makes its warehouse folder (default {@code
   * ./spark-warehouse}) the first time a statement goes through it (an {@code ALTER TABLE
   * delta.`path`}, say), which left an empty {@code spark-warehouse/} wherever joule ran. It goes
   * to a folder of this process under the temp folder instead, removed at exit if still empty.
   */
  static String scratchWarehouse() {
    java.nio.file.Path dir = java.nio.file.Path.of(System.getProperty("java.io.tmpdir"),
        "joule-spark-warehouse-" + ProcessHandle.current().pid());
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        java.nio.file.Files.deleteIfExists(dir); // only succeeds while empty
      } catch (java.io.IOException | RuntimeException e) {
        // not empty (a user's managed table) or already gone: leave it
      }
    }, "joule-warehouse-cleanup"));
    return dir.toUri().toString();
  }

  /** The threads of a {@code local}, {@code local[N]}, {@code local[*]} or {@code local[N,F]} master; 0 otherwise. */
  static int localCores(String master) {
    if (master.equals("local")) {
      return 1;
    }
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("local\\[\\s*(\\*|\\d+)\\s*(,\\s*\\d+\\s*)?]").matcher(master);
    if (!m.matches()) {
      return 0;
    }
    return m.group(1).equals("*") ? Runtime.getRuntime().availableProcessors() : Integer.parseInt(m.group(1));
  }

  /** Task slots per executor: local[N] threads, or spark.executor.cores on a cluster. */
  public static int slotsPerExecutor(SparkSession spark) {
    String master = spark.sparkContext().master();
    if (master.startsWith("local")) {
      return Math.max(1, spark.sparkContext().defaultParallelism());
    }
    return Math.max(1, Integer.parseInt(spark.conf().get("spark.executor.cores", "1")));
  }
}
