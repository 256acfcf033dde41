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
 */
public record RunColumns(String runId, String modelId, String modelVersion, String kernel, long scoredAtMicros,
    DataType idType, StructType passthrough) implements Serializable {

  /** The predictions table's columns, as score writes them. */
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
    for (var f : passthrough.fields()) {
      s = s.add(f.name(), f.dataType(), true);
    }
    return s;
  }

  /** The rejects table's columns, as score writes them. */
  public StructType rejectsSchema() {
    return new StructType()
        .add("id", idType, true)
        .add("reason", DataTypes.StringType, true)
        .add("run_id", DataTypes.StringType, true)
        .add("model_id", DataTypes.StringType, true)
        .add("kernel", DataTypes.StringType, true);
  }
}
