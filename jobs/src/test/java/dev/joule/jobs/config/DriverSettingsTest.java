package dev.joule.jobs.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The settings of a night on the driver with no Spark session, made from the config alone. */
class DriverSettingsTest {

  static Optional<DriverSettings> of(StringBuilder why, String... sets) {
    return DriverSettings.withoutSession(JouleConfig.load(null, List.of(sets)), why);
  }

  @Test
  void aLocalMastersSettingsAreASessionsHadoopAndSqlSettings() {
    StringBuilder why = new StringBuilder();
    DriverSettings s = of(why, "spark.master=\"local[3]\"",
        "spark.conf.\"spark.hadoop.fs.s3a.endpoint\"=\"http://127.0.0.1:9000\"",
        "spark.conf.\"spark.sql.parquet.compression.codec\"=zstd").orElseThrow();
    assertEquals(3, s.slots(), "local[3]: three slots share the machine's energy");
    assertEquals("http://127.0.0.1:9000", s.hadoop().get("fs.s3a.endpoint"), "spark.hadoop.* as Hadoop keys");
    assertEquals("zstd", s.sql().getConfString("spark.sql.parquet.compression.codec"), "spark.sql.* in the SQL settings");
    assertEquals(dev.joule.udfs.files.NioLocalFileSystem.class.getName(), s.hadoop().get("fs.file.impl"),
        "Joule's local file system, as a local session has it");
  }

  @Test
  void aMasterThatIsNotLocalOrADeltaLogStoreLeavesTheNightToASession() {
    StringBuilder cluster = new StringBuilder();
    assertTrue(of(cluster, "spark.master=\"spark://10.0.0.1:7077\"").isEmpty());
    assertTrue(cluster.toString().contains("not local"), cluster.toString());
    StringBuilder store = new StringBuilder();
    assertTrue(of(store, "spark.conf.\"spark.delta.logStore.s3a.impl\"=io.delta.storage.S3DynamoDBLogStore")
        .isEmpty(), "a Kernel commit would bypass the configured log store");
    assertTrue(store.toString().contains("spark.delta.logStore.s3a.impl"), store.toString());
  }
}
