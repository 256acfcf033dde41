package dev.joule.udfs.sql;

import dev.joule.udfs.EmbeddingColumn;
import java.util.List;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.unsafe.types.UTF8String;

/** The resolved arguments of one call, with checks whose messages name the function and argument. */
public final class SqlArgs {

  private final String function;
  private final List<Expression> args;

  public SqlArgs(String function, List<Expression> args) {
    this.function = function;
    this.args = List.copyOf(args);
  }

  public int count() {
    return args.size();
  }

  public DataType type(int i) {
    return args.get(i).dataType();
  }

  /** @param signature e.g. {@code joule_dot(a, b)} */
  public void requireCount(int min, int max, String signature) {
    if (args.size() < min || args.size() > max) {
      throw error("takes " + (min == max ? String.valueOf(min) : min + " to " + max) + " arguments: "
          + signature + "; got " + args.size());
    }
  }

  /** An embedding argument: {@code array<float>}, {@code array<double>} or little-endian float32 {@code binary}. */
  public EmbeddingArg embedding(int i, String name) {
    DataType t = type(i);
    try {
      return new EmbeddingArg(function, name, EmbeddingColumn.layoutOf(name, t));
    } catch (IllegalArgumentException e) {
      throw error("argument " + name + " must be array<float>, array<double> or binary (packed "
          + "little-endian float32), got " + t.simpleString());
    }
  }

  /** A string argument that must be a constant (a literal, or an expression of literals). */
  public String constantString(int i, String name) {
    Expression e = args.get(i);
    if (!(e.dataType() instanceof StringType)) {
      throw error("argument " + name + " must be a string, got " + e.dataType().simpleString());
    }
    if (!e.foldable()) {
      throw error("argument " + name + " must be a constant, e.g. '" + name + "' literal, not a column");
    }
    Object v = e.eval(null);
    if (v == null) {
      throw error("argument " + name + " is NULL");
    }
    return ((UTF8String) v).toString();
  }

  public void requireType(int i, String name, String expected, DataType... accepted) {
    DataType t = type(i);
    for (DataType a : accepted) {
      if (a.equals(t)) {
        return;
      }
    }
    throw error("argument " + name + " must be " + expected + ", got " + t.simpleString());
  }

  public void requireBinary(int i, String name) {
    requireType(i, name, "binary", DataTypes.BinaryType);
  }

  public SqlFunctionException error(String message) {
    return new SqlFunctionException(function, message);
  }
}
