package dev.joule.bridge.model;

import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.Precision;

/** A model a job can score with: its identity and the kernel it becomes at a precision. */
public interface ModelSpec {

  String modelId();

  /** Changes whenever the parameters change (a content hash, or the reference table version). */
  String modelVersion();

  int dim();

  /** The kernel at {@code precision}; quantization happens here, once, on the driver. */
  Kernel kernel(Precision precision);
}
