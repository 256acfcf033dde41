package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.VectorOps;
import java.util.List;

/**
 * A scoring kernel: an op at a precision with its quantized parameters. Immutable and
 * thread-safe; shipped as Arrow IPC bytes ({@link KernelCodec}) and identified by their SHA-256.
 *
 * <p>Two output shapes: class scores ({@code width()} = number of labels; the top one is the
 * predicted label) and neighbours ({@code neighbors()}: {@code width()} = k, each score comes
 * with the index of a reference row, whose id is {@code labels().get(index)}).
 */
public interface Kernel {

  /** {@code linear}, {@code mlp}, {@code centroid} or {@code topk}. */
  String op();

  Precision precision();

  int dim();

  int width();

  boolean neighbors();

  /** Class labels, centroid labels, or reference ids. */
  List<String> labels();

  /** A short name for tables and logs, e.g. {@code softmax@int8} or {@code topk10-cosine@binary}. */
  String displayName();

  /**
   * The precision the executor should encode rows at: the kernel's own, except int4 kernels,
   * which take int8 rows (W4A8: the int4 side is the one read again for every row; quantizing
   * the row to int4 too would double the error for half the bytes of one row). Rows already at
   * int4 (from an int4 codes table) are accepted as well. Kernels whose weights are scaled per
   * column ({@link WeightScaling#COLUMN_CHANNEL}) override this with fp32.
   */
  default Precision queryPrecision() {
    return precision() == Precision.INT4 ? Precision.INT8 : precision();
  }

  /**
   * Whether stored rows at {@code p} (a codes table) can be scored as they are: the kernel's own
   * precision and the one it asks for. Column-channel kernels read fp32, int8 and int4 rows.
   */
  default boolean reads(Precision p) {
    return p == precision() || p == queryPrecision();
  }

  /** How the parameters were quantized and why, for logs and run records; empty when there is nothing to say. */
  default String quantizationNote() {
    return "";
  }

  /**
   * The per-dimension scales quantized rows must be divided by before encoding
   * ({@link EncodedRows#encode(Precision, int, int, float[], DimensionScales)}), or null: the
   * kernel's parameters are folded with them. Set when the kernel scores a codes table that was
   * quantized with them.
   */
  default DimensionScales rowScales() {
    return null;
  }

  /** The precision rows must also carry for rescoring ({@link EncodedRows#rescore()}), or null. */
  default Precision rescorePrecision() {
    return null;
  }

  /**
   * Scores a batch into {@code out} (reset to {@code in.rows()} rows).
   *
   * @throws IllegalArgumentException if the rows' precision or dim do not match the kernel
   */
  void score(EncodedRows in, KernelOutput out, VectorOps ops);

  /**
   * Whether the multiply-accumulates are fp32 ones (the ops/bytes model charges them at the fp32
   * MAC energy): fp32 kernels, kernels that widen codes to floats against fp32 operands
   * (column-channel and unquantized weights), and a per-channel int8 head whose dots run as fp32
   * FMAs on its codes held as floats ({@link LinearKernel}).
   */
  default boolean fp32Arithmetic() {
    return precision() == Precision.FP32;
  }

  /** Multiply-accumulates (or bit operations, for binary) per row, for the ops/bytes model. */
  long macsPerRow();

  /** Bytes of parameters read per row scored. */
  long parameterBytes();

  /** The kernel's parameters for {@link KernelCodec}. */
  KernelPayload toPayload();

  default KernelOutput newOutput() {
    return new KernelOutput(width(), neighbors());
  }
}
