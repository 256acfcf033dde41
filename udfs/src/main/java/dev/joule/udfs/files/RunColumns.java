package dev.joule.udfs.files;

import dev.joule.udfs.StagedRows;
import java.io.Serializable;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * The columns of the predictions and rejects files a score run writes, and the values that are
 * the same on every row of the run.
 *
 * @param scoredAtMicros {@code scored_at}, microseconds since the epoch (Spark's timestamp)
 * @param passthrough input columns carried to predictions, last (empty: none)
 * @param runKey a night's run key: its predictions carry {@code tombstone} (false) and its
 *     rejects {@code run_key}, as the nightly tables have them; null for a score run
 * @param keepIds whether each task returns the ids of the predictions it wrote (a night's
 *     commit replaces the earlier rows of those ids)
 */
public record RunColumns(String runId, String modelId, String modelVersion, String kernel, long scoredAtMicros,
    DataType idType, StructType passthrough, String runKey, boolean keepIds) implements Serializable {

  /** A score run's columns. */
  public RunColumns(String runId, String modelId, String modelVersion, String kernel, long scoredAtMicros,
      DataType idType, StructType passthrough) {
    this(runId, modelId, modelVersion, kernel, scoredAtMicros, idType, passthrough, null, false);
  }

  /** A night's columns ({@code runKey}), keeping the ids of the predictions or not. */
  public RunColumns forNight(String key, boolean ids) {
    return new RunColumns(runId, modelId, modelVersion, kernel, scoredAtMicros, idType, passthrough, key, ids);
  }

  /** Whether these are a night's columns. */
  public boolean nightly() {
    return runKey != null;
  }

  /** The predictions table's columns, as score (or, with {@code tombstone}, a night) writes them. */
  public StructType predictionsSchema() {
    StructType s = new StructType()
        .add("id", idType, true)
        .add("model_id", DataTypes.StringType, true)
        .add("model_version", DataTypes.StringType, true)
        .add("kernel", DataTypes.StringType, true)
        .add("label", DataTypes.StringType, true)
        .add("score", DataTypes.FloatType, true)
        .add("scores", DataTypes.createArrayType(DataTypes.FloatType, false), true)
        .add("neighbors", StagedRows.NEIGHBORS, true)
        .add("run_id", DataTypes.StringType, true)
        .add("scored_at", DataTypes.TimestampType, true);
    if (nightly()) {
      s = s.add("tombstone", DataTypes.BooleanType, true);
    }
    for (var f : passthrough.fields()) {
      s = s.add(f.name(), f.dataType(), true);
    }
    return s;
  }

  /** The rejects table's columns, as score (or, with {@code run_key}, a night) writes them. */
  public StructType rejectsSchema() {
    StructType s = new StructType()
        .add("id", idType, true)
        .add("reason", DataTypes.StringType, true)
        .add("run_id", DataTypes.StringType, true)
        .add("model_id", DataTypes.StringType, true)
        .add("kernel", DataTypes.StringType, true);
    return nightly() ? s.add("run_key", DataTypes.StringType, true) : s;
  }
}
