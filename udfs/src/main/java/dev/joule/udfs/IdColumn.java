package dev.joule.udfs;

import java.io.Serializable;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;

/** Reads the row id as its external Java value; ids keep their type from input to predictions. */
public enum IdColumn implements Serializable {
  STRING(DataTypes.StringType),
  LONG(DataTypes.LongType),
  INT(DataTypes.IntegerType);

  private final DataType type;

  IdColumn(DataType type) {
    this.type = type;
  }

  public DataType sparkType() {
    return type;
  }

  /** The kind for a Spark type, or null when the caller must cast the id to string first. */
  public static IdColumn of(DataType t) {
    for (IdColumn k : values()) {
      if (k.type.equals(t)) {
        return k;
      }
    }
    return null;
  }

  /**
   * The id column as Joule keeps it: string, bigint and int as they are; binary as lowercase hex
   * (as {@code joule import} writes it), any other type cast to string.
   */
  public static Column key(Column id, DataType t) {
    if (of(t) != null) {
      return id;
    }
    return t instanceof BinaryType ? functions.lower(functions.hex(id)) : id.cast(DataTypes.StringType);
  }

  /** The kind {@link #key} gives a column of type {@code t}. */
  public static IdColumn keyKind(DataType t) {
    IdColumn k = of(t);
    return k == null ? STRING : k;
  }

  public Object read(InternalRow row, int ordinal) {
    if (row.isNullAt(ordinal)) {
      return null;
    }
    switch (this) {
      case STRING:
        return row.getUTF8String(ordinal).toString();
      case LONG:
        return row.getLong(ordinal);
      default:
        return row.getInt(ordinal);
    }
  }
}
