package dev.joule.jobs;

/**
 * An error the user can act on: the CLI prints its message on one line and exits with its code,
 * without a stack trace. Codes follow the scheduler contract in the README.
 */
public class JouleException extends RuntimeException {

  public static final int USAGE = 2;
  public static final int INPUT = 3;
  public static final int QUALITY = 4;
  public static final int CONFLICT = 5;
  public static final int OTHER = 1;

  private final int exitCode;

  public JouleException(int exitCode, String message) {
    super(message);
    this.exitCode = exitCode;
  }

  public JouleException(int exitCode, String message, Throwable cause) {
    super(message, cause);
    this.exitCode = exitCode;
  }

  public static JouleException usage(String message) {
    return new JouleException(USAGE, message);
  }

  public static JouleException input(String message) {
    return new JouleException(INPUT, message);
  }

  public int exitCode() {
    return exitCode;
  }
}
