package dev.joule.udfs;

import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * What a scored partition emits: every input row once, as a prediction or a reject, and one
 * energy row at the end. One schema for all three so a single Spark job produces them together;
 * the driver splits them by {@code kind} after reconciling counts.
 */
public final class StagedRows {

  public static final String PREDICTION = "prediction";
  public static final String REJECT = "reject";
  public static final String ENERGY = "energy";

  /** {@code array<struct<id: string, score: float>>}, best first, for top-k kernels. */
  public static final org.apache.spark.sql.types.ArrayType NEIGHBORS = DataTypes.createArrayType(
      new StructType().add("id", DataTypes.StringType, false).add("score", DataTypes.FloatType, false), false);

  private StagedRows() {}

  /** The struct of input columns carried through to predictions, when a run has any. */
  public static final String PASSTHROUGH = "passthrough";

  public static StructType schema(DataType idType) {
    return schema(idType, null);
  }

  /**
   * @param passthrough the input columns carried to predictions rows (null or empty: none); with
   *     some, every staged row has a last field {@code passthrough} of this struct type, set on
   *     predictions only
   */
  public static StructType schema(DataType idType, StructType passthrough) {
    StructType s = new StructType()
        .add("kind", DataTypes.StringType, false)
        .add("id", idType, true)
        .add("label", DataTypes.StringType, true)
        .add("score", DataTypes.FloatType, true)
        .add("scores", DataTypes.createArrayType(DataTypes.FloatType, false), true)
        .add("neighbors", NEIGHBORS, true)
        .add("reason", DataTypes.StringType, true)
        .add("energy", EnergyRecord.SCHEMA, true);
    return passthrough == null || passthrough.isEmpty() ? s : s.add(PASSTHROUGH, passthrough, true);
  }
}
