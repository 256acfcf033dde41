package dev.joule.jobs.delta;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/** The change data feed read in columns gives Delta's own change rows. */
class ChangeFeedReadIT extends dev.joule.jobs.LocalSparkIT {

  @Test
  void theRowsAndSchemaOfDeltasFeedWithoutItsRowRelation() {
    for (boolean deletionVectors : new boolean[] {false, true}) {
      String path = tmp.resolve("feed-" + deletionVectors).toString();
      spark.sql("CREATE TABLE delta.`" + path + "` (id BIGINT, embedding ARRAY<FLOAT>, note STRING) USING delta "
          + "TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true', 'delta.enableDeletionVectors' = '"
          + deletionVectors + "')");
      spark.sql("INSERT INTO delta.`" + path + "` SELECT id, array(CAST(id AS FLOAT), -1.5f, NULL), "
          + "IF(id % 3 = 0, NULL, concat('n', id)) FROM range(0, 300)"); // version 1
      spark.sql("UPDATE delta.`" + path + "` SET embedding = array(2.0f) WHERE id % 10 = 1"); // 2
      spark.sql("DELETE FROM delta.`" + path + "` WHERE id % 25 = 2"); // 3
      spark.sql("INSERT INTO delta.`" + path + "` SELECT id, NULL, 'late' FROM range(300, 310)"); // 4
      for (long[] range : new long[][] {{1, 4}, {2, 3}, {4, 4}}) {
        Dataset<Row> delta = spark.read().format("delta").option("readChangeFeed", "true")
            .option("startingVersion", range[0]).option("endingVersion", range[1]).load(path);
        Dataset<Row> ours = ChangeFeedRead.of(spark, path, range[0], range[1]);
        String what = "versions " + range[0] + ".." + range[1] + ", deletion vectors " + deletionVectors;
        assertEquals(delta.schema(), ours.schema(), what);
        assertTrue(delta.count() > 0, what);
        assertEquals(0, delta.exceptAll(ours).count(), what);
        assertEquals(0, ours.exceptAll(delta).count(), what);
        String plan = ours.queryExecution().executedPlan().toString();
        assertFalse(plan.contains("DeltaCDFRelation"), "not read through the row relation: " + plan);
      }
    }
  }
}
