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

  /**
   * A plain table's files are read with parquet-mr's column readers (long lists, several row
   * groups a file, null and empty arrays, null elements, null flat values), the file under a
   * deletion vector by Kernel: the rows are Spark's, and Kernel's alone gives the same.
   */
  @Test
  void plainFilesAreReadDirectlyAndAFileUnderADeletionVectorByKernel() throws Exception {
    String path = tmp.resolve("plain").toString();
    org.apache.hadoop.conf.Configuration hadoop = spark.sparkContext().hadoopConfiguration();
    hadoop.setInt("parquet.block.size", 16 * 1024); // several row groups a file
    try {
      spark.sql("SELECT id, IF(id % 11 = 0, NULL, concat('r', id)) AS name, CAST(id AS INT) AS n, CAST(id AS DOUBLE) / 7 AS d, "
          + "CAST(id / 3 AS FLOAT) AS f, id % 2 = 0 AS even, CASE WHEN id % 13 = 0 THEN NULL "
          + "WHEN id % 17 = 0 THEN CAST(array() AS ARRAY<FLOAT>) "
          + "WHEN id % 19 = 0 THEN array(CAST(NULL AS FLOAT), 2.5F, CAST(NULL AS FLOAT)) "
          + "ELSE transform(sequence(1, CAST(1 + id % 300 AS INT)), x -> CAST(x * id / 9 AS FLOAT)) END AS embedding "
          + "FROM range(0, 3000, 1, 3)").write().format("delta")
          .option("delta.enableDeletionVectors", "true").save(path);
    } finally {
      hadoop.unset("parquet.block.size");
    }
    spark.sql("ALTER TABLE delta.`" + path + "` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')");
    spark.sql("DELETE FROM delta.`" + path + "` WHERE id BETWEEN 10 AND 12"); // one file's rows, in a vector
    assertTrue(spark.sql("DESCRIBE HISTORY delta.`" + path + "`").filter("operation = 'DELETE'")
        .select("operationMetrics.numDeletionVectorsAdded").head().getString(0).compareTo("0") > 0, "DVs were used");
    String q = DeltaIO.qualified(spark, path);
    List<String> expected = sorted(spark.read().format("delta").load(path).collectAsList());
    assertEquals(expected, sorted(DriverTableReader.of(spark).rows(q, OptionalLong.empty())));
    assertEquals(expected, sorted(new DriverTableReader(DriverTableReader.engine(spark)).rows(q,
        OptionalLong.empty())), "Kernel's reads alone");

    org.apache.spark.sql.types.StructType schema = spark.read().format("delta").load(path).schema();
    int files = 0;
    try (var listed = java.nio.file.Files.list(java.nio.file.Path.of(path))) {
      for (java.nio.file.Path f : listed.filter(x -> x.toString().endsWith(".parquet")).toList()) {
        List<Row> direct = DriverParquetRows.read(hadoop, new org.apache.hadoop.fs.Path(f.toString()), schema)
            .stream().map(v -> (Row) new org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema(v, schema))
            .toList();
        assertEquals(sorted(spark.read().parquet(f.toString()).collectAsList()), sorted(direct), f.toString());
        // Names resolved ignoring case where the file has no exact match, as Kernel and Spark resolve them.
        org.apache.spark.sql.types.StructType upper = new org.apache.spark.sql.types.StructType(
            java.util.Arrays.stream(schema.fields()).map(x -> new org.apache.spark.sql.types.StructField(
                x.name().toUpperCase(java.util.Locale.ROOT), x.dataType(), x.nullable(), x.metadata()))
                .toArray(org.apache.spark.sql.types.StructField[]::new));
        assertEquals(sorted(direct), sorted(DriverParquetRows.read(hadoop, new org.apache.hadoop.fs.Path(f.toString()),
            upper).stream().map(v -> (Row) new org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema(v, upper))
            .toList()), "upper-case names");
        try (var footer = org.apache.parquet.hadoop.ParquetFileReader.open(
            org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(new org.apache.hadoop.fs.Path(f.toString()), hadoop))) {
          assertTrue(footer.getRowGroups().size() > 1, f + " has " + footer.getRowGroups().size() + " row group(s)");
        }
        files++;
      }
    }
    assertEquals(3, files);
  }

  private static List<String> sorted(List<Row> rows) {
    return rows.stream().map(Row::toString).sorted().collect(Collectors.toList());
  }
}
