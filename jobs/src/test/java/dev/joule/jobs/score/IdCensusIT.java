package dev.joule.jobs.score;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.JouleException;
import dev.joule.jobs.console.SparkJobProfile;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/** The id census gives the same answer on the driver as through a shuffle, with one job. */
class IdCensusIT extends dev.joule.jobs.LocalSparkIT {

  /** 1,000 rows over 4 partitions: ids 7 and 12 on three rows each, 40 on two, two null ids. */
  private static Dataset<Row> ids() {
    return spark.range(0, 1000, 1, 4).selectExpr(
        "CASE WHEN id IN (500, 900) THEN 7L WHEN id IN (501, 901) THEN 12L WHEN id = 502 THEN 40L "
            + "WHEN id IN (998, 999) THEN NULL ELSE id END AS id");
  }

  @Test
  void onTheDriverAndThroughAShuffleTheCountsAgree() {
    IdCensus.Limits limits = new IdCensus.Limits(10, 1000);
    SparkJobProfile profile = SparkJobProfile.attach(spark);
    IdCensus driver = IdCensus.of(ids(), OptionalLong.of(1000), limits, "t");
    assertEquals(1, profile.stop(spark).size(), "one scan, no shuffle");
    IdCensus shuffled = IdCensus.of(ids(), OptionalLong.of(1001), limits, "t"); // more than driverRows
    IdCensus unknown = IdCensus.of(ids(), OptionalLong.empty(), limits, "t");
    for (IdCensus c : List.of(driver, shuffled, unknown)) {
      assertEquals(1000, c.rows(), "null ids are rows");
      assertEquals(Map.of(7L, 3L, 12L, 3L, 40L, 2L), c.duplicates().rowsPerId());
      assertNull(c.deleted());
    }
  }

  /** Int and string ids keep their own types as keys: the scoring pass looks its rows' ids up by them. */
  @Test
  void intAndStringIdsAreCountedAsTheirOwnTypes() {
    IdCensus.Limits limits = new IdCensus.Limits(10, 1000);
    Dataset<Row> ints = ids().selectExpr("CAST(id AS INT) AS id");
    Dataset<Row> strings = ids().selectExpr("CAST(id AS STRING) AS id");
    for (OptionalLong known : List.of(OptionalLong.of(1000), OptionalLong.empty())) {
      IdCensus i = IdCensus.of(ints, known, limits, "t");
      assertEquals(1000, i.rows());
      assertEquals(Map.of(7, 3L, 12, 3L, 40, 2L), i.duplicates().rowsPerId());
      IdCensus s = IdCensus.of(strings, known, limits, "t");
      assertEquals(1000, s.rows());
      assertEquals(Map.of("7", 3L, "12", 3L, "40", 2L), s.duplicates().rowsPerId());
    }
    IdCensus none = IdCensus.of(spark.range(0, 100, 1, 3).selectExpr("id"), OptionalLong.of(100), limits, "t");
    assertEquals(100, none.rows());
    assertEquals(Map.of(), none.duplicates().rowsPerId());
    IdCensus empty = IdCensus.of(spark.range(0, 0).selectExpr("id"), OptionalLong.of(0), limits, "t");
    assertEquals(0, empty.rows());
  }

  @Test
  void deletedIdsCountNoRowOnEitherPath() {
    Dataset<Row> deletes = spark.range(2000, 2003).selectExpr("id").union(spark.range(7, 8).selectExpr("id"))
        .union(spark.sql("SELECT CAST(NULL AS BIGINT) AS id"));
    IdCensus.Limits limits = new IdCensus.Limits(10, 1005);
    // Changes of unknown size, or more than driverRows, go through a shuffle; a night's counted
    // changes (rows and deletes together) up to driverRows are counted on the driver, in one job.
    IdCensus unknown = IdCensus.withDeletes(ids(), deletes, OptionalLong.empty(), limits, "t");
    IdCensus shuffled = IdCensus.withDeletes(ids(), deletes, OptionalLong.of(1006), limits, "t");
    SparkJobProfile profile = SparkJobProfile.attach(spark);
    IdCensus driver = IdCensus.withDeletes(ids(), deletes, OptionalLong.of(1005), limits, "t");
    assertEquals(1, profile.stop(spark).size(), "one scan, no shuffle");
    for (IdCensus c : List.of(unknown, shuffled, driver)) {
      assertEquals(1000, c.rows(), "a deleted id is no row; null ids are rows");
      assertEquals(Set.of(2000L, 2001L, 2002L, 7L), c.deleted(), "a null deleted id marks nothing");
      assertEquals(Map.of(7L, 3L, 12L, 3L, 40L, 2L), c.duplicates().rowsPerId());
    }
  }

  @Test
  void tooManyDuplicatedIdsRefuseTheRunNamingTheMostRepeatedOnEitherPath() {
    IdCensus.Limits limits = new IdCensus.Limits(2, 1000);
    for (OptionalLong known : List.of(OptionalLong.of(1000), OptionalLong.empty())) {
      JouleException e = assertThrows(JouleException.class, () -> IdCensus.of(ids(), known, limits, "input t"));
      assertTrue(e.getMessage().startsWith("input t has 3 ids on more than one row (id "), e.getMessage());
      assertTrue(e.getMessage().contains(" is on 3 rows), more than joule.score.max-duplicate-ids = 2"), e.getMessage());
    }
  }
}
