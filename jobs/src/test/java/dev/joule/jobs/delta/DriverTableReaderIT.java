package dev.joule.jobs.delta;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.OptionalLong;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/** The driver's Delta Kernel reads agree with Spark's reads of the same table and version. */
class DriverTableReaderIT extends dev.joule.jobs.LocalSparkIT {

  @Test
  void countsAndRowsMatchSparkWithDeletionVectorsNullsAndTimestamps() {
    String path = tmp.resolve("runs").toString();
    spark.sql("CREATE TABLE delta.`" + path + "` (run_id STRING, rows_in BIGINT, parts INT, joules DOUBLE, "
        + "ok BOOLEAN, finished_at TIMESTAMP) USING delta TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')");
    for (int v = 0; v < 3; v++) {
      spark.sql("INSERT INTO delta.`" + path + "` SELECT concat('r', id), id * " + (v + 1) + ", CAST(id AS INT), "
          + "id / 3.0, id % 2 = 0, IF(id % 5 = 0, NULL, TIMESTAMP'2026-12-06 01:02:03.456789' + make_interval(0, 0, 0, "
          + "CAST(id AS INT))) FROM range(" + (v * 100) + ", " + (v * 100 + 100) + ")");
    }
    spark.sql("DELETE FROM delta.`" + path + "` WHERE rows_in % 7 = 0"); // marked in deletion vectors
    DriverTableReader reader = DriverTableReader.of(spark);
    String q = DeltaIO.qualified(spark, path);
    long version = DeltaIO.latestVersion(spark, path);
    assertTrue(spark.sql("DESCRIBE HISTORY delta.`" + path + "`").filter("operation = 'DELETE'")
        .select("operationMetrics.numDeletionVectorsAdded").head().getString(0).compareTo("0") > 0, "DVs were used");

    long sparkCount = spark.read().format("delta").load(path).count();
    assertEquals(OptionalLong.of(sparkCount), reader.rowCount(q, version));
    assertEquals(OptionalLong.of(200), reader.rowCount(q, 2), "an earlier version, before the third insert");

    List<Row> rows = reader.rows(q, version);
    assertEquals(sorted(spark.read().format("delta").load(path).collectAsList()), sorted(rows));
    Row one = rows.stream().filter(r -> "r1".equals(r.getAs("run_id"))).findFirst().orElseThrow();
    assertEquals(1L, one.<Long>getAs("rows_in"));
    assertEquals(java.sql.Timestamp.valueOf("2026-12-06 01:02:03.456789").getTime() + 86_400_000L,
        one.<java.sql.Timestamp>getAs("finished_at").getTime());
  }

  @Test
  void aFileWithoutRowCountsIsNotCountedAndNestedColumnsAreLeftToSpark() {
    String path = tmp.resolve("nostats").toString();
    spark.conf().set("spark.databricks.delta.stats.collect", "false");
    try {
      spark.range(10).selectExpr("id", "array(id) AS a").write().format("delta").save(path);
    } finally {
      spark.conf().unset("spark.databricks.delta.stats.collect");
    }
    DriverTableReader reader = DriverTableReader.of(spark);
    String q = DeltaIO.qualified(spark, path);
    assertEquals(OptionalLong.empty(), reader.rowCount(q, 0));
    assertNull(reader.rows(q, 0), "an array column: read with Spark");
  }

  @Test
  void floatArraysAreReadAsSparkReadsThem() {
    String path = tmp.resolve("floats").toString();
    spark.sql("SELECT id, CASE WHEN id = 3 THEN NULL WHEN id = 4 THEN array(CAST(NULL AS FLOAT), 1.5F) "
        + "WHEN id = 5 THEN CAST(array() AS ARRAY<FLOAT>) "
        + "ELSE array(CAST(id AS FLOAT), CAST(id * 0.25 AS FLOAT), -0.0F) END AS embedding FROM range(12)")
        .write().format("delta").save(path);
    List<Row> rows = DriverTableReader.of(spark).rows(DeltaIO.qualified(spark, path), OptionalLong.empty());
    assertEquals(sorted(spark.read().format("delta").load(path).collectAsList()), sorted(rows));
  }

  private static List<String> sorted(List<Row> rows) {
    return rows.stream().map(Row::toString).sorted().collect(Collectors.toList());
  }
}
