package dev.joule.jobs.delta;

import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.delta.commands.cdc.CDCReader;
import org.apache.spark.sql.delta.commands.cdc.CDCReader$;
import org.apache.spark.sql.delta.commands.cdc.DeltaCDFRelationBase;
import org.apache.spark.sql.execution.datasources.LogicalRelation;
import org.apache.spark.sql.functions;

/**
 * A Delta table's change data feed over a version range, as a plan Spark reads in columns.
 *
 * <p>Delta's {@code readChangeFeed} source is a V1 relation whose scan returns external
 * {@link Row}s: every value of every changed row is converted to a Java object and back (each
 * float of an embedding boxed), which took most of a night's change reading. The plan under that
 * relation ({@code CDCReader.changesToBatchDF}, the change files and the added files of the range
 * as Parquet scans) is taken instead, with the relation's own arguments: the same rows and
 * schema, read by Spark's vectorized reader. Where the relation is not the plain one expected
 * (another Delta version, a catalog table), the relation is read as it is, and the reason logged.
 * Uses Delta internals (Delta 4.3.1, pinned), as NVIDIA's and Gluten's Delta readers do.
 */
public final class ChangeFeedRead {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ChangeFeedRead.class);

  private ChangeFeedRead() {}

  /** The changes of versions {@code start..end} (both included) of the table at {@code path}. */
  public static Dataset<Row> of(SparkSession spark, String path, long start, long end) {
    Dataset<Row> relation = spark.read().format("delta").option("readChangeFeed", "true")
        .option("startingVersion", start).option("endingVersion", end).load(path);
    String why;
    try {
      LogicalPlan plan = relation.queryExecution().analyzed();
      if (plan instanceof LogicalRelation lr && lr.relation() instanceof CDCReader.DeltaCDFRelation cdf
          && cdf.startingVersion().contains(start) && cdf.endingVersion().contains(end)) {
        DeltaCDFRelationBase base = cdf;
        Dataset<Row> changes = CDCReader$.MODULE$.changesToBatchDF(base.deltaLog(), start, end, spark,
            cdf.catalogTableOpt(), scala.Option.apply(base.snapshotForBatchSchema()), false, scala.Option.empty());
        Dataset<Row> columns = changes.select(java.util.Arrays.stream(relation.schema().fieldNames())
            .map(f -> functions.col("`" + f.replace("`", "``") + "`")).toArray(Column[]::new));
        if (columns.schema().equals(relation.schema())) {
          return columns;
        }
        why = "its schema " + columns.schema().simpleString() + " is not the relation's "
            + relation.schema().simpleString();
      } else {
        why = "the plan is not Delta's change data relation: " + plan.nodeName();
      }
    } catch (Exception | LinkageError e) { // Scala throws checked ones too (AnalysisException)
      why = e.getClass().getSimpleName() + ": " + e.getMessage();
    }
    LOG.info("{}: the change data feed is read through Delta's relation, in rows ({})", path, why);
    return relation;
  }
}
