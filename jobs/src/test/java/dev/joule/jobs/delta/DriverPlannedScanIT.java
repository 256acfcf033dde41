package dev.joule.jobs.delta;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.console.SparkJobProfile;
import java.util.List;
import java.util.OptionalLong;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/**
 * A table whose files the driver lists with Delta Kernel reads the same rows as Spark's Delta
 * reader at the same version, without the jobs that reader runs to list them; a table a plain
 * Parquet read would get wrong is left to Spark's Delta reader, with the reason.
 */
class DriverPlannedScanIT extends dev.joule.jobs.LocalSparkIT {

  @Test
  void aPlainTableReadsTheRowsOfEachVersionWithoutASparkJobToListIt() {
    String path = tmp.resolve("plain").toString();
    spark.range(0, 300).selectExpr("id", "array(CAST(id AS FLOAT), 1.5f) AS embedding", "CAST(id % 3 AS INT) AS label")
        .repartition(3).write().format("delta").save(path);
    spark.range(300, 400).selectExpr("id", "array(CAST(id AS FLOAT), 2.5f) AS embedding", "CAST(NULL AS INT) AS label")
        .write().format("delta").mode("append").save(path);
    // Version 2 replaces the table: the files of versions 0 and 1 are removed, not deleted.
    spark.range(1000, 1050).selectExpr("id", "array(CAST(id AS FLOAT)) AS embedding", "1 AS label")
        .write().format("delta").mode("overwrite").save(path);

    for (long v = 0; v <= 2; v++) {
      DeltaIO.Pinned pinned = DeltaIO.readPinned(spark, path, OptionalLong.of(v), "table");
      // Only the latest version is listed by Kernel: Spark's reader enforces the deleted-file
      // retention on older ones.
      assertEquals(v == 2 ? "files listed by Delta Kernel" : "Spark's Delta reader: an earlier version than the latest",
          pinned.planned());
      assertEquals(v, pinned.version());
      Dataset<Row> delta = spark.read().format("delta").option("versionAsOf", v).load(path);
      assertEquals(delta.schema(), pinned.data().schema());
      assertEquals(sorted(delta), sorted(pinned.data()), "version " + v);
      assertEquals(v == 2 ? OptionalLong.of(delta.count()) : OptionalLong.empty(), pinned.rows());
    }
    DeltaIO.Pinned latest = DeltaIO.readPinned(spark, path, "table");
    assertEquals(2, latest.version());

    // Planning lists no files with a Spark job; the scan of the data is the one job a collect runs.
    SparkJobProfile profile = SparkJobProfile.attach(spark);
    assertEquals(50, DeltaIO.readPinned(spark, path, "table").data().select("id").collectAsList().size());
    List<SparkJobProfile.Job> jobs = profile.stop(spark);
    assertEquals(1, jobs.size(), "jobs: " + jobs);
  }

  @Test
  void identityAndGeneratedColumnsGiveTheSchemaSparksDeltaReaderGives() {
    String path = tmp.resolve("generated").toString();
    io.delta.tables.DeltaTable.create(spark).location(path)
        .addColumn(io.delta.tables.DeltaTable.columnBuilder(spark, "id").dataType("BIGINT").generatedAlwaysAsIdentity().build())
        .addColumn("x", "DOUBLE")
        .addColumn(io.delta.tables.DeltaTable.columnBuilder(spark, "twice").dataType("DOUBLE").generatedAlwaysAs("x * 2").build())
        .addColumn(io.delta.tables.DeltaTable.columnBuilder(spark, "note").dataType("STRING").nullable(false).build())
        .execute();
    spark.sql("INSERT INTO delta.`" + path + "` (x, note) SELECT id / 4.0, concat('n', id) FROM range(30)");
    DeltaIO.Pinned pinned = DeltaIO.readPinned(spark, path, "table");
    assertEquals("files listed by Delta Kernel", pinned.planned());
    Dataset<Row> delta = spark.read().format("delta").load(path);
    assertEquals(delta.schema(), pinned.data().schema(), "no identity or generation metadata");
    assertEquals(sorted(delta), sorted(pinned.data()));
  }

  @Test
  void tablesAPlainParquetReadWouldGetWrongAreLeftToSparksDeltaReader() {
    String dv = tmp.resolve("dv").toString();
    spark.sql("CREATE TABLE delta.`" + dv + "` (id BIGINT, x DOUBLE) USING delta "
        + "TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')");
    spark.sql("INSERT INTO delta.`" + dv + "` SELECT id, id / 2.0 FROM range(100)");
    assertPlannedByKernel(dv, "deletion vectors enabled but no file has one yet");
    spark.sql("DELETE FROM delta.`" + dv + "` WHERE id % 10 = 0");
    assertLeftToSpark(dv, "a file with a deletion vector");
    assertEquals(90, DeltaIO.readPinned(spark, dv, "t").data().count());

    String mapped = tmp.resolve("mapped").toString();
    spark.sql("CREATE TABLE delta.`" + mapped + "` (id BIGINT, x DOUBLE) USING delta TBLPROPERTIES "
        + "('delta.columnMapping.mode' = 'name', 'delta.minReaderVersion' = '2', 'delta.minWriterVersion' = '5')");
    spark.sql("INSERT INTO delta.`" + mapped + "` SELECT id, id / 2.0 FROM range(10)");
    spark.sql("ALTER TABLE delta.`" + mapped + "` RENAME COLUMN x TO y");
    assertLeftToSpark(mapped, "column mapping mode name");
    assertEquals(10, DeltaIO.readPinned(spark, mapped, "t").data().filter("y IS NOT NULL").count());

    String parted = tmp.resolve("parted").toString();
    spark.range(20).selectExpr("id", "id % 2 AS p").write().format("delta").partitionBy("p").save(parted);
    assertLeftToSpark(parted, "partition columns [p]");
    assertEquals(20, DeltaIO.readPinned(spark, parted, "t").data().count());

    String missing = tmp.resolve("missing").toString();
    dev.joule.jobs.JouleException e = org.junit.jupiter.api.Assertions.assertThrows(
        dev.joule.jobs.JouleException.class, () -> DeltaIO.readPinned(spark, missing, "input"));
    assertTrue(e.getMessage().startsWith("input is not a Delta table: " + missing), e.getMessage());
  }

  @Test
  void aFileWithoutRowCountsLeavesTheRowCountUnknown() {
    String path = tmp.resolve("nostats").toString();
    spark.conf().set("spark.databricks.delta.stats.collect", "false");
    try {
      spark.range(10).write().format("delta").save(path);
    } finally {
      spark.conf().unset("spark.databricks.delta.stats.collect");
    }
    DeltaIO.Pinned pinned = DeltaIO.readPinned(spark, path, "t");
    assertEquals("files listed by Delta Kernel", pinned.planned());
    assertEquals(OptionalLong.empty(), pinned.rows());
    assertEquals(10, pinned.data().count());
  }

  private static void assertPlannedByKernel(String path, String why) {
    DriverPlannedScan.Plan plan = DriverPlannedScan.of(spark, DriverTableReader.engine(spark), path, OptionalLong.empty());
    assertNotNull(plan.data(), why + ": " + plan.leftToSpark());
  }

  private static void assertLeftToSpark(String path, String reason) {
    DriverPlannedScan.Plan plan = DriverPlannedScan.of(spark, DriverTableReader.engine(spark), path, OptionalLong.empty());
    assertNull(plan.data());
    assertEquals(reason, plan.leftToSpark());
    DeltaIO.Pinned pinned = DeltaIO.readPinned(spark, path, "t");
    assertEquals("Spark's Delta reader: " + reason, pinned.planned());
    assertEquals(OptionalLong.empty(), pinned.rows());
  }

  private static List<String> sorted(Dataset<Row> rows) {
    return rows.collectAsList().stream().map(Row::toString).sorted().collect(Collectors.toList());
  }
}
