package dev.joule.bridge.model;

/**
 * A model file that cannot be used as it is: missing, not JSON, or with fields that do not fit.
 * The message names the file and the field; the CLI maps it to its input-data exit code.
 */
public class ModelFileException extends RuntimeException {

  public ModelFileException(String message) {
    super(message);
  }
}
