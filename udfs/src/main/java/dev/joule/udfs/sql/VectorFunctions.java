package dev.joule.udfs.sql;

import dev.joule.bridge.kernel.BinaryQuantizer;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.kernel.Similarity;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;

/** joule_dot, joule_cosine and joule_hamming: the kernels' inner loops on two values. */
final class VectorFunctions {

  private VectorFunctions() {}

  static VectorOps ops() {
    return VectorOpsProvider.get();
  }

  static SqlFunction.Bound dot(SqlArgs args) {
    args.requireCount(2, 2, "joule_dot(a, b)");
    EmbeddingArg a = args.embedding(0, "a");
    EmbeddingArg b = args.embedding(1, "b");
    return new FloatPair(a, b, false);
  }

  static SqlFunction.Bound cosine(SqlArgs args) {
    args.requireCount(2, 2, "joule_cosine(a, b)");
    EmbeddingArg a = args.embedding(0, "a");
    EmbeddingArg b = args.embedding(1, "b");
    return new FloatPair(a, b, true);
  }

  /** Dot product or cosine of two fp32 embeddings, through the same code as the fp32 kernels. */
  record FloatPair(EmbeddingArg a, EmbeddingArg b, boolean cosine) implements SqlFunction.Bound {
    @Override
    public DataType dataType() {
      return DataTypes.FloatType;
    }

    @Override
    public Object eval(Object[] values) {
      float[] va = a.read(values[0]);
      float[] vb = b.read(values[1]);
      EmbeddingArg.sameLength(a.function(), a, va, b, vb);
      if (va.length == 0) {
        throw new SqlFunctionException(a.function(), "arguments a and b are empty");
      }
      EncodedRows ra = EncodedRows.fp32(1, va.length, va);
      EncodedRows rb = EncodedRows.fp32(1, vb.length, vb);
      return (cosine ? Similarity.COSINE : Similarity.DOT).of(ra, 0, rb, 0, ops());
    }
  }

  static SqlFunction.Bound hamming(SqlArgs args) {
    args.requireCount(2, 2, "joule_hamming(a, b)");
    boolean aCodes = args.type(0) instanceof BinaryType;
    boolean bCodes = args.type(1) instanceof BinaryType;
    if (aCodes && bCodes) {
      return new CodesHamming();
    }
    if (aCodes || bCodes) {
      throw args.error("arguments a and b must both be 1-bit codes (binary) or both embeddings "
          + "(array<float> or array<double>), got " + args.type(0).simpleString() + " and "
          + args.type(1).simpleString());
    }
    return new SignHamming(args.embedding(0, "a"), args.embedding(1, "b"));
  }

  /** Hamming distance of two code strings of equal length. */
  record CodesHamming() implements SqlFunction.Bound {
    @Override
    public DataType dataType() {
      return DataTypes.IntegerType;
    }

    @Override
    public Object eval(Object[] values) {
      byte[] a = (byte[]) values[0];
      byte[] b = (byte[]) values[1];
      if (a.length != b.length) {
        throw new SqlFunctionException("joule_hamming", "argument b has " + b.length
            + " bytes, argument a has " + a.length);
      }
      return hamming(a, b);
    }
  }

  /** Hamming distance of the sign bits of two embeddings, i.e. of their binary codes. */
  record SignHamming(EmbeddingArg a, EmbeddingArg b) implements SqlFunction.Bound {
    @Override
    public DataType dataType() {
      return DataTypes.IntegerType;
    }

    @Override
    public Object eval(Object[] values) {
      float[] va = a.readFinite(values[0]);
      float[] vb = b.readFinite(values[1]);
      EmbeddingArg.sameLength(a.function(), a, va, b, vb);
      int bytes = Precision.BINARY.rowBytes(va.length);
      byte[] ca = new byte[bytes];
      byte[] cb = new byte[bytes];
      BinaryQuantizer.quantize(va, 0, va.length, ca, 0);
      BinaryQuantizer.quantize(vb, 0, vb.length, cb, 0);
      return hamming(ca, cb);
    }
  }

  /** Whole 64-bit words through the vector ops, as the binary kernels do; a ragged tail byte-wise. */
  static int hamming(byte[] a, byte[] b) {
    int words = a.length / 8;
    int h = words == 0 ? 0 : ops().hamming(a, 0, b, 0, words);
    for (int i = words * 8; i < a.length; i++) {
      h += Integer.bitCount((a[i] ^ b[i]) & 0xFF);
    }
    return h;
  }
}
