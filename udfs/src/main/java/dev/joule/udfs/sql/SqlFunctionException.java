package dev.joule.udfs.sql;

/**
 * A Joule SQL function called with arguments it cannot take. Raised at analysis time (wrong
 * type, a precision or model path that is not a constant) or per row (wrong length, a null
 * element); the message always starts with the function's name and names the argument.
 */
public class SqlFunctionException extends IllegalArgumentException {

  public SqlFunctionException(String function, String message) {
    super(function + ": " + message);
  }

  public SqlFunctionException(String function, String message, Throwable cause) {
    super(function + ": " + message, cause);
  }
}
