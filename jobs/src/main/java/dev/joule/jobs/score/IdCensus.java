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
import java.util.OptionalLong;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.DataTypes;

/**
 * Counts an input's rows and finds the ids on more than one row, reading the id column alone. A
 * scoring pass rejects every row of such an id ({@link DuplicateIds}), so no id gets two
 * predictions. An input whose row count is known (from the Delta log, or a night's counted changes),
 * up to {@link Limits#driverRows}, is counted on the driver after one scan of its ids (one Spark
 * job, no shuffle); any other by a
 * shuffle of the ids (an aggregate: three or four jobs, each planned and compiled, which cost a
 * small run more than its rows do), and a second, small job when there are duplicates.
 *
 * @param rows rows in the input, null ids included
 * @param deleted the deleted ids counted with them ({@link #withDeletes}), else null
 */
public record IdCensus(long rows, DuplicateIds duplicates, java.util.Set<Object> deleted) {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(IdCensus.class);

  /**
   * @param maxDuplicateIds more ids than this on several rows refuse the run (exit 3): each is
   *     shipped to every task, and so many duplicates mean the input needs deduplicating first
   * @param driverRows an input known to hold at most this many rows is counted on the driver
   */
  public record Limits(int maxDuplicateIds, long driverRows) {

    public static Limits of(dev.joule.jobs.config.JouleConfig config) {
      return new Limits(config.integer("score.max-duplicate-ids"), config.longValue("score.driver-census-rows"));
    }
  }

  /**
   * @param ids the input's {@code id} column, as {@link Scoring.Prepared#select} names it
   * @param knownRows the input's rows, where the Delta log says ({@link dev.joule.jobs.delta.DeltaIO.Pinned#rows})
   * @param what the input, as an error names it
   */
  public static IdCensus of(Dataset<Row> ids, OptionalLong knownRows, Limits limits, String what) {
    return count(ids.select(col("id")), knownRows, limits, what, false);
  }

  /**
   * As {@link #of}, and in the same job the ids of {@code deletes} (a night's deleted ids: they
   * come back to the driver, for a commit that marks their rows). A deleted id is not a row.
   */
  public static IdCensus withDeletes(Dataset<Row> ids, Dataset<Row> deletes, Limits limits, String what) {
    return withDeletes(ids, deletes, OptionalLong.empty(), limits, what);
  }

  /**
   * As above, where {@code knownRows} bounds the rows and deletes together (an unchanged
   * source's none): up to {@link Limits#driverRows}, counted on the driver.
   */
  public static IdCensus withDeletes(Dataset<Row> ids, Dataset<Row> deletes, OptionalLong knownRows, Limits limits,
      String what) {
    return count(ids.select(col("id"), lit(false).as(DELETED))
        .unionByName(deletes.select(col("id"), lit(true).as(DELETED))), knownRows, limits, what, true);
  }

  private static final String DELETED = "_joule_deleted";

  /**
   * A census counted by the caller (a night's net change, on the driver): {@code repeated} ids
   * on more than one row, with their rows; more than {@link Limits#maxDuplicateIds} refuse the run.
   */
  public static IdCensus counted(long rows, Map<Object, Long> repeated, java.util.Set<Object> deleted, Limits limits,
      String what) {
    if (repeated.size() > limits.maxDuplicateIds()) {
      Map.Entry<Object, Long> most = repeated.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow();
      throw tooMany(what, repeated.size(), most.getKey(), most.getValue(), limits);
    }
    LOG.info("{}: {} rows, {} ids on more than one row, {} deleted ids (net change on the driver)", what, rows,
        repeated.size(), deleted.size());
    return new IdCensus(rows, repeated.isEmpty() ? DuplicateIds.NONE : new DuplicateIds(repeated), deleted);
  }

  private static IdCensus count(Dataset<Row> marked, OptionalLong knownRows, Limits limits, String what,
      boolean withDeletes) {
    long t0 = System.nanoTime();
    boolean onDriver = knownRows.isPresent() && knownRows.getAsLong() <= limits.driverRows();
    org.apache.spark.sql.types.DataType idType = marked.schema().apply(0).dataType();
    boolean integral = idType.equals(DataTypes.LongType) || idType.equals(DataTypes.IntegerType);
    IdCensus census = !onDriver ? shuffled(marked, limits, what, withDeletes)
        : integral && !withDeletes ? onDriverSorted(marked, limits, what)
        : onDriver(marked, limits, what, withDeletes);
    LOG.info("{}: {} rows, {} ids on more than one row{} (id census{}, {} ms)", what, census.rows(),
        census.duplicates().size(), withDeletes ? ", " + census.deleted().size() + " deleted ids" : "",
        onDriver ? " on the driver" : "", (System.nanoTime() - t0) / 1_000_000);
    return census;
  }

  /**
   * The ids collected and counted on the driver: one scan, no shuffle. A deleted id (flagged in
   * the second column) is no row: it comes back in {@link #deleted}, null ids left out.
   */
  private static IdCensus onDriver(Dataset<Row> marked, Limits limits, String what, boolean withDeletes) {
    Map<Object, Long> perId = new HashMap<>();
    java.util.Set<Object> deleted = withDeletes ? new java.util.HashSet<>() : null;
    long rows = 0;
    for (Row r : marked.collectAsList()) {
      Object id = r.get(0);
      if (withDeletes && r.getBoolean(1)) {
        if (id != null) {
          deleted.add(id);
        }
        continue;
      }
      rows++;
      if (id != null) {
        perId.merge(id, 1L, Long::sum);
      }
    }
    Map<Object, Long> repeated = new HashMap<>();
    Map.Entry<Object, Long> most = null;
    for (Map.Entry<Object, Long> e : perId.entrySet()) {
      if (e.getValue() > 1) {
        repeated.put(e.getKey(), e.getValue());
        most = most == null || e.getValue() > most.getValue() ? e : most;
      }
    }
    if (repeated.size() > limits.maxDuplicateIds()) {
      throw tooMany(what, repeated.size(), most.getKey(), most.getValue(), limits);
    }
    return new IdCensus(rows, repeated.isEmpty() ? DuplicateIds.NONE : new DuplicateIds(repeated), deleted);
  }

  /**
   * Long or int ids, without deletes, counted on the driver as primitives: each task sorts its
   * ids, and the driver sorts the tasks' runs together (JDK 17's sort finds long sorted runs and
   * merges them) and counts equal neighbours. The job runs as a SQL execution, as a Dataset
   * action would (the UI's SQL tab, query listeners). Collecting a million ids as {@link Row}s
   * into a map of boxed ids cost about 0.15 s of driver CPU and 100 MB of garbage a run.
   */
  private static IdCensus onDriverSorted(Dataset<Row> marked, Limits limits, String what) {
    boolean longs = marked.schema().apply(0).dataType().equals(DataTypes.LongType);
    org.apache.spark.sql.execution.QueryExecution qe = marked.queryExecution();
    org.apache.spark.api.java.JavaRDD<long[]> sortedRuns = qe.toRdd().toJavaRDD().mapPartitions(rows -> {
      long[] ids = new long[4096];
      int n = 0;
      long nulls = 0;
      while (rows.hasNext()) {
        InternalRow r = rows.next();
        if (r.isNullAt(0)) {
          nulls++;
          continue;
        }
        if (n == ids.length) {
          ids = java.util.Arrays.copyOf(ids, n * 2);
        }
        ids[n++] = longs ? r.getLong(0) : r.getInt(0);
      }
      long[] run = new long[n + 1]; // the null ids' count, then the ids, sorted
      run[0] = nulls;
      System.arraycopy(ids, 0, run, 1, n);
      java.util.Arrays.sort(run, 1, n + 1);
      return List.of(run).iterator();
    });
    List<long[]> runs = org.apache.spark.sql.execution.SQLExecution.withNewExecutionId(qe,
        scala.Option.apply("id census"), sortedRuns::collect);
    int total = 0;
    long rows = 0;
    for (long[] run : runs) {
      total = Math.addExact(total, run.length - 1);
      rows += run[0];
    }
    long[] ids = new long[total];
    int at = 0;
    for (long[] run : runs) {
      System.arraycopy(run, 1, ids, at, run.length - 1);
      at += run.length - 1;
    }
    java.util.Arrays.sort(ids);
    rows += total;
    Map<Object, Long> repeated = new HashMap<>();
    Object mostId = null;
    long most = 0;
    for (int i = 0; i < total;) {
      int j = i + 1;
      while (j < total && ids[j] == ids[i]) {
        j++;
      }
      if (j - i > 1) {
        Object id = longs ? (Object) ids[i] : (Object) (int) ids[i];
        repeated.put(id, (long) (j - i));
        if (j - i > most) {
          most = j - i;
          mostId = id;
        }
      }
      i = j;
    }
    if (repeated.size() > limits.maxDuplicateIds()) {
      throw tooMany(what, repeated.size(), mostId, most, limits);
    }
    return new IdCensus(rows, repeated.isEmpty() ? DuplicateIds.NONE : new DuplicateIds(repeated), null);
  }

  /** The ids counted by an aggregate over a shuffle, for inputs too large or of unknown size. */
  private static IdCensus shuffled(Dataset<Row> marked, Limits limits, String what, boolean withDeletes) {
    // Without deletes (score, embed, a full night) the plain count per id; with them, a deleted
    // id counts no row and comes back in the same aggregate.
    Dataset<Row> perId = !withDeletes ? marked.groupBy(col("id")).count()
        : marked.groupBy(col("id")).agg(count_if(not(col(DELETED))).as("count"), max(col(DELETED)).as("deleted"));
    Row totals = perId.agg(sum(col("count")), count_if(col("count").gt(1).and(col("id").isNotNull())),
        withDeletes ? collect_list(when(col("deleted"), col("id"))) : lit(null)).head();
    long rows = totals.isNullAt(0) ? 0 : totals.getLong(0);
    long duplicated = totals.getLong(1);
    java.util.Set<Object> deleted = withDeletes ? new java.util.HashSet<>(totals.getList(2)) : null;
    if (duplicated == 0) {
      return new IdCensus(rows, DuplicateIds.NONE, deleted);
    }
    Dataset<Row> repeated = perId.filter(col("count").gt(1).and(col("id").isNotNull()));
    if (duplicated > limits.maxDuplicateIds()) {
      Row example = repeated.orderBy(col("count").desc()).head();
      throw tooMany(what, duplicated, example.get(0), example.getLong(1), limits);
    }
    Map<Object, Long> rowsPerId = new HashMap<>();
    for (Row r : repeated.collectAsList()) {
      rowsPerId.put(r.get(0), r.getLong(1));
    }
    return new IdCensus(rows, new DuplicateIds(rowsPerId), deleted);
  }

  private static JouleException tooMany(String what, long duplicated, Object id, long rows, Limits limits) {
    return JouleException.input(what + " has " + duplicated + " ids on more than one row (id " + id + " is on " + rows
        + " rows), more than joule.score.max-duplicate-ids = " + limits.maxDuplicateIds()
        + "; nothing scored, nothing committed. Keep one row per id (joule import keeps the first)");
  }
}
