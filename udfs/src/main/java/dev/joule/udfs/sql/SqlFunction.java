package dev.joule.udfs.sql;

import java.io.Serializable;
import org.apache.spark.sql.types.DataType;

/**
 * A Joule SQL function: a name, its usage text for {@code DESCRIBE FUNCTION}, and a bind step
 * that checks the (resolved) argument types once, on the driver, and returns what evaluates each
 * row. Implementations are stateless; what a call needs (a kernel, a precision) lives in the
 * {@link Bound} it returns, which is shipped to executors with the plan.
 */
public interface SqlFunction extends Serializable {

  String sqlName();

  /** One line per signature, e.g. {@code joule_dot(a, b) - ...}. */
  String usage();

  /**
   * @throws SqlFunctionException naming the argument, when the arguments do not fit
   */
  Bound bind(SqlArgs args);

  /**
   * True when binding reads something only the driver is sure to have (a model file): such a
   * call must arrive at executors bound and never binds there.
   */
  default boolean bindsOnDriverOnly() {
    return false;
  }

  /** A function bound to its argument types. */
  interface Bound extends Serializable {

    DataType dataType();

    /**
     * Evaluates one row. {@code values} are the arguments in Catalyst's internal form
     * ({@code ArrayData}, {@code byte[]}, {@code UTF8String}, boxed numbers), none of them null:
     * a null argument makes the result null without calling this.
     *
     * @throws SqlFunctionException naming the argument, when a value does not fit
     */
    Object eval(Object[] values);
  }
}
