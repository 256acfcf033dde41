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
  default Kernel kernel(Precision precision) {
    return kernel(precision, null);
  }

  /**
   * The kernel at {@code precision} for rows divided by {@code rowScales} (a codes table quantized
   * with them, see {@link dev.joule.bridge.kernel.DimensionScales}): its parameters folded. Null:
   * plain rows. Kernels that cannot use them (fp32, binary) ignore them.
   */
  Kernel kernel(Precision precision, dev.joule.bridge.kernel.DimensionScales rowScales);
}
