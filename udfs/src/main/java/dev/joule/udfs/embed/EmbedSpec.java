package dev.joule.udfs.embed;

import dev.joule.encoder.EncoderModel;
import dev.joule.udfs.DuplicateIds;
import dev.joule.udfs.EnergySpec;
import java.io.Serializable;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;

/**
 * Everything a partition needs to embed its texts, shipped once per task.
 *
 * @param modelId the encoder's content id (SHA-256 of its ONNX file), as the driver loaded it
 * @param batchRows texts per encoder call from a task
 * @param idType the id column's type in the output tables
 * @param kept the input's other columns carried to the embeddings table, in this order
 * @param embeddedAtMicros the run's time, the same on every row
 */
public record EmbedSpec(String runId, String job, EncoderModel model, String modelId, int batchRows,
    LongText longText, DuplicateIds duplicates, EnergySpec energy, DataType idType, StructType kept,
    long embeddedAtMicros) implements Serializable {

  public EmbedSpec {
    if (batchRows < 1) {
      throw new IllegalArgumentException("--batch must be >= 1, got " + batchRows);
    }
    duplicates = duplicates == null ? DuplicateIds.NONE : duplicates;
    kept = kept == null ? new StructType() : kept;
  }
}
