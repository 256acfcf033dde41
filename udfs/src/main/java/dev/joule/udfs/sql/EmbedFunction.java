package dev.joule.udfs.sql;

import dev.joule.encoder.EncoderCache;
import dev.joule.encoder.EncoderModel;
import java.util.List;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;

/**
 * joule_embed(text[, model]): one text's sentence embedding, for notebooks on small inputs. The
 * same encoder as {@code joule embed}, loaded once per executor; one text per call, so it is
 * slower than the job's batches and keeps no energy record.
 */
final class EmbedFunction {

  private EmbedFunction() {}

  static SqlFunction.Bound bind(SqlArgs args) {
    args.requireCount(1, 2, "joule_embed(text[, model])");
    args.requireType(0, "text", "string", DataTypes.StringType);
    EncoderModel model;
    try {
      model = EncoderModel.of(args.count() == 2 ? args.constantString(1, "model") : "all-minilm-l6-v2");
    } catch (IllegalArgumentException e) {
      throw args.error("argument model: " + e.getMessage());
    }
    return new Embed(model);
  }

  record Embed(EncoderModel model) implements SqlFunction.Bound {
    @Override
    public DataType dataType() {
      return DataTypes.createArrayType(DataTypes.FloatType, false);
    }

    @Override
    public Object eval(Object[] values) {
      String text = values[0].toString();
      return UnsafeArrayData.fromPrimitiveArray(EncoderCache.get(model).encode(List.of(text)).vectors()[0]);
    }
  }
}
