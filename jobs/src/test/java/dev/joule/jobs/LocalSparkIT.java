package dev.joule.jobs;

import java.nio.file.Path;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/**
 * An integration test class with a local Spark session of its own ({@link TestSpark#start}),
 * started before its first test and stopped after its last, its warehouse and tables under the
 * class's temporary folder {@link #tmp}.
 */
public abstract class LocalSparkIT {

  @TempDir protected static Path tmp;
  protected static SparkSession spark;

  @BeforeAll
  static void startSpark() {
    spark = TestSpark.start(tmp);
  }

  @AfterAll
  static void stopSpark() {
    spark.stop();
  }
}
