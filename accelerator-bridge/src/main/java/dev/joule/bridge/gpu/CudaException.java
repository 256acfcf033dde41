package dev.joule.bridge.gpu;

/** A CUDA driver or NVRTC call that failed, with the call and the library's name for the error. */
public final class CudaException extends RuntimeException {

  public CudaException(String message) {
    super(message);
  }
}
