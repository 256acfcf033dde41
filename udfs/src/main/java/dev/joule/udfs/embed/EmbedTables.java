package dev.joule.udfs.embed;

import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/** The columns of the tables {@code joule embed} writes. */
public final class EmbedTables {
  public static final String EMBEDDINGS = "embeddings";
  public static final String REJECTS = "rejects";

  private EmbedTables() {}

  /**
   * {@code id, embedding, text_hash, model, tokens, run_id, embedded_at}, then the kept columns.
   * {@code tokens} counts the text's word pieces before any cut: above the model's limit, the
   * vector was made from the first ones.
   */
  public static StructType embeddings(DataType idType, StructType kept) {
    StructType s = new StructType()
        .add("id", idType, false)
        .add("embedding", DataTypes.createArrayType(DataTypes.FloatType, false), false)
        .add("text_hash", DataTypes.StringType, false)
        .add("model", DataTypes.StringType, false)
        .add("tokens", DataTypes.IntegerType, false)
        .add("run_id", DataTypes.StringType, false)
        .add("embedded_at", DataTypes.TimestampType, false);
    for (StructField f : kept.fields()) {
      s = s.add(f.name(), f.dataType(), true);
    }
    return s;
  }

  /** {@code id, reason, run_id, model}: every input row that was not embedded, and why. */
  public static StructType rejects(DataType idType) {
    return new StructType()
        .add("id", idType, true)
        .add("reason", DataTypes.StringType, false)
        .add("run_id", DataTypes.StringType, false)
        .add("model", DataTypes.StringType, false);
  }
}
