package dev.joule.udfs.sql;

/**
 * The scalar SQL functions {@link dev.joule.udfs.JouleExtensions} registers. Usage strings use
 * Spark's {@code _FUNC_} placeholder, which {@code DESCRIBE FUNCTION} replaces by the name.
 */
public enum JouleFunctions implements SqlFunction {

  DOT("joule_dot", "_FUNC_(a, b) - The fp32 dot product of two embeddings of the same length "
      + "(array<float>, array<double> or packed little-endian float32 binary), with the kernels' "
      + "vector code.") {
    @Override
    public Bound bind(SqlArgs args) {
      return VectorFunctions.dot(args);
    }
  },
  COSINE("joule_cosine", "_FUNC_(a, b) - The cosine similarity of two embeddings of the same "
      + "length, as the kernels compute it (0 when either norm is 0).") {
    @Override
    public Bound bind(SqlArgs args) {
      return VectorFunctions.cosine(args);
    }
  },
  HAMMING("joule_hamming", "_FUNC_(a, b) - Bits that differ between two 1-bit codes (binary "
      + "values as joule_quantize(e, 'binary').codes writes them), or between the "
      + "sign bits of two embeddings given as arrays.") {
    @Override
    public Bound bind(SqlArgs args) {
      return VectorFunctions.hamming(args);
    }
  },
  QUANTIZE("joule_quantize", "_FUNC_(embedding, precision) - The codes of an embedding at "
      + "precision 'int8', 'int4' or 'binary', as a codes table holds them: "
      + "struct<codes: binary, scale: float, norm: float, precision: string, dim: int>.") {
    @Override
    public Bound bind(SqlArgs args) {
      return CodesFunctions.quantize(args);
    }
  },
  DEQUANTIZE("joule_dequantize", "_FUNC_(codes, scale, precision, dim) - The approximate "
      + "embedding (array<float>) that codes at a precision stand for: q*scale for int8 and int4, "
      + "±scale per bit for binary.") {
    @Override
    public Bound bind(SqlArgs args) {
      return CodesFunctions.dequantize(args);
    }
  },
  EMBED("joule_embed", "_FUNC_(text[, model]) - The sentence embedding of a text (array<float>, "
      + "384 values, unit length) with a local encoder: 'all-minilm-l6-v2' (default, fp32) or "
      + "'all-minilm-l6-v2-q' (int8 weights), as joule embed makes it. For small inputs: one text "
      + "per call and no energy record; use joule embed for tables.") {
    @Override
    public Bound bind(SqlArgs args) {
      return EmbedFunction.bind(args);
    }
  },
  SCORE("joule_score", "_FUNC_(model_path, embedding[, precision]) - Scores an embedding with a "
      + "Joule model file (linear, mlp or centroid) at a precision (default 'int8', as joule "
      + "score): struct<label: string, score: float, scores: array<float>, kernel: string, "
      + "model_version: string>. The model is read and quantized once, on the driver; each "
      + "executor decodes the kernel once.") {
    @Override
    public Bound bind(SqlArgs args) {
      return ScoreFunction.bind(args);
    }

    @Override
    public boolean bindsOnDriverOnly() {
      return true;
    }
  };

  private final String sqlName;
  private final String usage;

  JouleFunctions(String sqlName, String usage) {
    this.sqlName = sqlName;
    this.usage = usage;
  }

  @Override
  public String sqlName() {
    return sqlName;
  }

  @Override
  public String usage() {
    return usage;
  }
}
