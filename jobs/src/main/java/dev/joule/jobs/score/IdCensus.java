package dev.joule.jobs.score;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.collect_list;
import static org.apache.spark.sql.functions.count_if;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.not;
import static org.apache.spark.sql.functions.when;
import static org.apache.spark.sql.functions.sum;

import dev.joule.jobs.JouleException;
import dev.joule.udfs.DuplicateIds;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * Counts an input's rows and finds the ids on more than one row, reading the id column alone
 * (one Spark job; a second, small one only when there are duplicates). A scoring pass rejects
 * every row of such an id ({@link DuplicateIds}), so no id gets two predictions.
 *
 * @param rows rows in the input, null ids included
 * @param deleted the deleted ids counted with them ({@link #withDeletes}), else null
 */
public record IdCensus(long rows, DuplicateIds duplicates, java.util.Set<Object> deleted) {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(IdCensus.class);

  /**
   * @param ids the input's {@code id} column, as {@link Scoring.Prepared#select} names it
   * @param maxDuplicateIds more ids than this on several rows refuse the run (exit 3): each is
   *     shipped to every task, and so many duplicates mean the input needs deduplicating first
   * @param what the input, as an error names it
   */
  public static IdCensus of(Dataset<Row> ids, int maxDuplicateIds, String what) {
    return count(ids.select(col("id")), maxDuplicateIds, what, false);
  }

  /**
   * As {@link #of}, and in the same job the ids of {@code deletes} (a night's deleted ids: they
   * come back to the driver, for a commit that marks their rows). A deleted id is not a row.
   */
  public static IdCensus withDeletes(Dataset<Row> ids, Dataset<Row> deletes, int maxDuplicateIds, String what) {
    return count(ids.select(col("id"), lit(false).as(DELETED))
        .unionByName(deletes.select(col("id"), lit(true).as(DELETED))), maxDuplicateIds, what, true);
  }

  private static final String DELETED = "_joule_deleted";

  private static IdCensus count(Dataset<Row> marked, int maxDuplicateIds, String what, boolean withDeletes) {
    long t0 = System.nanoTime();
    // Without deletes (score, embed, a full night) the plain count per id; with them, a deleted
    // id counts no row and comes back in the same aggregate.
    Dataset<Row> perId = !withDeletes ? marked.groupBy(col("id")).count()
        : marked.groupBy(col("id")).agg(count_if(not(col(DELETED))).as("count"), max(col(DELETED)).as("deleted"));
    Row totals = perId.agg(sum(col("count")), count_if(col("count").gt(1).and(col("id").isNotNull())),
        withDeletes ? collect_list(when(col("deleted"), col("id"))) : lit(null)).head();
    long rows = totals.isNullAt(0) ? 0 : totals.getLong(0);
    long duplicated = totals.getLong(1);
    java.util.Set<Object> deleted = withDeletes ? new java.util.HashSet<>(totals.getList(2)) : null;
    LOG.info("{}: {} rows, {} ids on more than one row{} (id census, {} ms)", what, rows, duplicated,
        withDeletes ? ", " + deleted.size() + " deleted ids" : "", (System.nanoTime() - t0) / 1_000_000);
    if (duplicated == 0) {
      return new IdCensus(rows, DuplicateIds.NONE, deleted);
    }
    Dataset<Row> repeated = perId.filter(col("count").gt(1).and(col("id").isNotNull()));
    if (duplicated > maxDuplicateIds) {
      Row example = repeated.orderBy(col("count").desc()).head();
      throw JouleException.input(what + " has " + duplicated + " ids on more than one row (id " + example.get(0)
          + " is on " + example.getLong(1) + " rows), more than joule.score.max-duplicate-ids = " + maxDuplicateIds
          + "; nothing scored, nothing committed. Keep one row per id (joule import keeps the first)");
    }
    List<Row> found = repeated.collectAsList();
    Map<Object, Long> rowsPerId = new HashMap<>();
    for (Row r : found) {
      rowsPerId.put(r.get(0), r.getLong(1));
    }
    return new IdCensus(rows, new DuplicateIds(rowsPerId), deleted);
  }
}
