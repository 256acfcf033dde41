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

  /**
   * Fp32 rows encoded as the kernel takes them: at {@link #rowPrecision}, divided by
   * {@link #rowScales}, with the rescoring rows beside them when it rescores. The executor's
   * batches and the driver's sample (auto precision) are encoded here alike.
   */
  public dev.joule.bridge.kernel.EncodedRows encodeFloats(int n, float[] values) {
    var rows = dev.joule.bridge.kernel.EncodedRows.encode(rowPrecision, n, dim, values, rowScales);
    return rescorePrecision == null ? rows
        : rows.withRescore(dev.joule.bridge.kernel.EncodedRows.encode(rescorePrecision, n, dim, values, rowScales));
  }

  /** Bytes of one encoded row as it crosses the bridge: codes, scale and norm, and the rescoring row's. */
  public long sentBytesPerRow() {
    return rowPrecision.rowBytes(dim) + 8L + (rescorePrecision == null ? 0 : rescorePrecision.rowBytes(dim) + 8L);
  }

  /**
   * The work the ops/bytes model charges for {@code rows} scored: MACs at fp32 or int8 energy
   * (int4 and binary at int8's, an upper bound: Horowitz gives no 4-bit or popcount figures),
   * values quantized in the executor, bytes from DRAM (rows read once, the batches written by the
   * executor and read by the node) and parameter bytes read per row.
   */
  public dev.joule.bridge.energy.OpsBytesModel.Work work(long rows, boolean quantizedHere, long bytesRead,
      long bytesSent) {
    long macs = rows * macsPerRow;
    return new dev.joule.bridge.energy.OpsBytesModel.Work(fp32Arithmetic ? macs : 0, fp32Arithmetic ? 0 : macs,
        quantizedHere && rowPrecision.quantized() ? rows * dim : 0, bytesRead + 2 * bytesSent,
        rows * parameterBytes);
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
