package dev.joule.bridge.node;

/**
 * Work that could not be done on any node allowed to do it. The message says which nodes were
 * tried and what each answered; it never carries credentials.
 */
public class NodeException extends RuntimeException {
  public NodeException(String message) {
    super(message);
  }

  public NodeException(String message, Throwable cause) {
    super(message, cause);
  }
}
