package dev.joule.udfs;

import dev.joule.bridge.kernel.DimensionScales;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.kernel.Precision;
import java.io.Serializable;
import java.util.List;

/**
 * What executors need to know about a kernel without decoding it: its bytes and id (to push it),
 * its shape (to read the response) and how rows must be encoded (precisions, and the dimension
 * scales quantized rows are divided by, or null).
 */
public record KernelInfo(byte[] bytes, String id, String name, String op, Precision precision,
    Precision rowPrecision, Precision rescorePrecision, int dim, int width, boolean neighbors,
    List<String> labels, long macsPerRow, long parameterBytes, DimensionScales rowScales, boolean fp32Arithmetic)
    implements Serializable {

  public KernelInfo {
    labels = List.copyOf(labels);
  }

  /** The kernel as a transport sends it. */
  public dev.joule.bridge.node.KernelHandle handle() {
    return new dev.joule.bridge.node.KernelHandle(id, bytes, width, neighbors);
  }

  /** @param rowPrecision the precision to encode rows at; null: the kernel's preferred one */
  public static KernelInfo of(Kernel k, Precision rowPrecision) {
    byte[] bytes = KernelCodec.encode(k);
    Precision rows = rowPrecision == null ? k.queryPrecision() : rowPrecision;
    return new KernelInfo(bytes, KernelCodec.kernelId(bytes), k.displayName(), k.op(),
        k.precision(), rows, k.rescorePrecision(), k.dim(), k.width(), k.neighbors(), k.labels(),
        k.macsPerRow(), k.parameterBytes(), k.rowScales(), k.fp32Arithmetic());
  }
}
