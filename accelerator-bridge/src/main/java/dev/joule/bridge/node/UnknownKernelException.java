package dev.joule.bridge.node;

/** The node does not hold this kernel id: the client should push the kernel and retry. */
public final class UnknownKernelException extends RuntimeException {
  private final String kernelId;

  public UnknownKernelException(String nodeId, String kernelId) {
    super("node " + nodeId + " has no kernel " + kernelId + " (push it first)");
    this.kernelId = kernelId;
  }

  public String kernelId() {
    return kernelId;
  }
}
