package dev.joule.jobs.score;

import dev.joule.jobs.report.ClaimCard;
import dev.joule.jobs.report.EnergySummary;
import java.sql.Timestamp;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * One row of the runs table, the same schema for every job: what ran (key, input and its
 * version range, model, kernel), what happened to the rows, the energy with its methods, how the
 * input was read (and why a full scan, if one was), and the claim card.
 *
 * @param runKey null for jobs without one (score)
 * @param sourceVersionFrom nightly: the source version the last committed night had read (this
 *     night reads the versions after it); -1 on a first night, which reads the whole source
 * @param scanMode full, cdf, history or none
 * @param sourceChanges nightly: what of the source was read, in words (e.g. "no changes since
 *     source version 4", "first night: the whole source up to version 4"); null for score
 */
public record RunRecord(String job, String runKey, ScoreResult result, Timestamp finishedAt,
    Long sourceVersionFrom, long rowsDeleted, long sourceRows, String scanMode, String fullScanReason,
    String sourceChanges) {

  /** A run without {@code source_changes} (score). */
  public RunRecord(String job, String runKey, ScoreResult result, Timestamp finishedAt, Long sourceVersionFrom,
      long rowsDeleted, long sourceRows, String scanMode, String fullScanReason) {
    this(job, runKey, result, finishedAt, sourceVersionFrom, rowsDeleted, sourceRows, scanMode, fullScanReason, null);
  }

  public static final StructType SCHEMA = new StructType()
      .add("run_id", DataTypes.StringType).add("job", DataTypes.StringType)
      .add("run_key", DataTypes.StringType).add("status", DataTypes.StringType)
      .add("finished_at", DataTypes.TimestampType)
      .add("input_path", DataTypes.StringType).add("input_version", DataTypes.LongType)
      .add("source_version_from", DataTypes.LongType)
      .add("model_id", DataTypes.StringType).add("model_version", DataTypes.StringType)
      .add("kernel", DataTypes.StringType).add("kernel_id", DataTypes.StringType)
      .add("precision", DataTypes.StringType)
      .add("rows_in", DataTypes.LongType).add("rows_scored", DataTypes.LongType)
      .add("rows_rejected", DataTypes.LongType).add("rows_deleted", DataTypes.LongType)
      .add("source_rows", DataTypes.LongType).add("partitions", DataTypes.IntegerType)
      .add("scan_mode", DataTypes.StringType).add("full_scan_reason", DataTypes.StringType)
      .add("estimated_joules", DataTypes.DoubleType)
      .add("estimated_joules_low", DataTypes.DoubleType)
      .add("estimated_joules_high", DataTypes.DoubleType)
      .add("modelled_joules", DataTypes.DoubleType)
      .add("fixed_estimated_joules", DataTypes.DoubleType)
      .add("energy_methods", DataTypes.StringType)
      .add("bridge", DataTypes.StringType)
      .add("claim_card", DataTypes.StringType)
      .add("quality_gate", DataTypes.StringType)
      .add("source_changes", DataTypes.StringType);

  /** Status of a run whose tables were committed. */
  public static final String COMMITTED = "committed";
  /**
   * Status of a run the quality gate refused (exit code 4): its row records the refused attempt's
   * energy, the gate's verdict and its claim card; nothing else of it was written.
   */
  public static final String REFUSED = "refused";

  public Dataset<Row> toDataFrame(SparkSession spark) {
    return toDataFrame(spark, COMMITTED);
  }

  public Dataset<Row> toDataFrame(SparkSession spark, String status) {
    return spark.createDataFrame(List.of(toRow(status)), SCHEMA);
  }

  /** The row, in {@link #SCHEMA}'s order. */
  public Row toRow(String status) {
    ScoreResult r = result;
    EnergySummary e = r.energy();
    Row row = RowFactory.create(r.runId(), job, runKey, status, finishedAt, r.input(), r.inputVersion(),
        sourceVersionFrom, r.modelId(), r.modelVersion(), r.kernel(), r.kernelId(), r.precision(), r.rowsIn(),
        r.rowsScored(), r.rowsRejected(), rowsDeleted, sourceRows, e.partitions(), scanMode, fullScanReason,
        e.estimatedJ(), e.estimatedLowJ(), e.estimatedHighJ(), e.modelledJ(), e.fixedEstimatedJ(),
        String.join(",", e.methods()), e.bridge().describe(), ClaimCard.forRun(r).toJson(),
        r.gate() == null ? null : r.gate().describe(), sourceChanges);
    return row;
  }

  /** The energy_log's schema for keyed runs (nightly): the partition records and the run key. */
  public static final StructType KEYED_ENERGY_SCHEMA = dev.joule.udfs.EnergyRecord.SCHEMA.add("run_key",
      DataTypes.StringType);

  /** {@code energyRows} with {@code runKey} added, in {@link #KEYED_ENERGY_SCHEMA}. */
  public static List<Row> keyedEnergyRows(List<Row> energyRows, String runKey) {
    return energyRows.stream().map(r -> {
      Object[] v = new Object[r.size() + 1];
      for (int i = 0; i < r.size(); i++) {
        v[i] = r.get(i);
      }
      v[r.size()] = runKey;
      return (Row) RowFactory.create(v);
    }).toList();
  }

  /** Columns that hold one value per run: a file of one run's row carries them as statistics. */
  public static final List<String> STATS_COLUMNS = List.of("run_id", "job", "run_key", "status", "model_id");
}
