package dev.joule.bridge.node;

import java.io.Serializable;

/**
 * A kernel as the sending side knows it: its id, its bytes (pushed to a node that lacks it) and
 * the shape of its answers, which every response is checked against.
 */
public record KernelHandle(String id, byte[] bytes, int width, boolean neighbors) implements Serializable {

  public static KernelHandle of(byte[] bytes, dev.joule.bridge.kernel.Kernel kernel) {
    return new KernelHandle(dev.joule.bridge.kernel.KernelCodec.kernelId(bytes), bytes, kernel.width(),
        kernel.neighbors());
  }

  public String shortId() {
    return id.substring(0, Math.min(12, id.length()));
  }

  @Override
  public String toString() {
    return "kernel " + shortId() + " (" + bytes.length + " bytes)";
  }
}
