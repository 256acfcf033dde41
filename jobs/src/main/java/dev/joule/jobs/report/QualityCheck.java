package dev.joule.jobs.report;

import static org.apache.spark.sql.functions.col;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/** Compares two runs' predictions row by row: top-1 agreement and probability errors. */
public final class QualityCheck {

  private QualityCheck() {}

  public static Quality compare(SparkSession spark, String predictionsPath, String baselineRunId,
      String baselineKernel, String candidateRunId, String candidateKernel) {
    return compare(spark, predictionsPath, baselineRunId, baselineKernel, predictionsPath, candidateRunId,
        candidateKernel);
  }

  /** The two runs' predictions may live in different tables. */
  public static Quality compare(SparkSession spark, String baselinePath, String baselineRunId,
      String baselineKernel, String candidatePath, String candidateRunId, String candidateKernel) {
    Dataset<Row> a = spark.read().format("delta").load(baselinePath).filter(col("run_id").equalTo(baselineRunId))
        .select(col("id"), col("label").as("a_label"), col("scores").as("a_scores"));
    Dataset<Row> b = spark.read().format("delta").load(candidatePath).filter(col("run_id").equalTo(candidateRunId)).select(col("id"),
        col("label").as("b_label"), col("scores").as("b_scores"));
    Row r = a.join(b, "id").selectExpr(
        "count(*) AS n",
        "avg(CASE WHEN a_label = b_label THEN 1.0D ELSE 0.0D END) AS agreement",
        "max(array_max(zip_with(a_scores, b_scores, (x, y) -> abs(x - y)))) AS max_err",
        "avg(aggregate(zip_with(a_scores, b_scores, (x, y) -> abs(x - y)), 0D, (s, v) -> s + v)"
            + " / size(a_scores)) AS mean_err").head();
    long n = r.getLong(0);
    return new Quality(baselineKernel, candidateKernel, n, n == 0 ? Double.NaN : r.getDouble(1),
        r.isNullAt(2) ? Double.NaN : ((Number) r.get(2)).doubleValue(),
        r.isNullAt(3) ? Double.NaN : r.getDouble(3));
  }
}
