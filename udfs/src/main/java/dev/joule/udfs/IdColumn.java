package dev.joule.udfs;

import java.io.Serializable;
import org.apache.spark.sql.catalyst.InternalRow;
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
