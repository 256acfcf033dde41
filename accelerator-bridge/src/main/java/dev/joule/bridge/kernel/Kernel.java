package dev.joule.bridge.kernel;

import dev.joule.bridge.vector.VectorOps;
import java.util.List;

/**
 * A scoring kernel: an op at a precision with its (quantized) parameters. Kernels are immutable
 * and thread-safe; they are shipped as Arrow IPC bytes ({@link KernelCodec}) and identified by the
 * SHA-256 of those bytes.
 */
public interface Kernel {

  /** The op, e.g. {@code linear}. */
  String op();

  Precision precision();

  /** Input dimension. */
  int dim();

  /** Number of scores per row. */
  int outputs();

  /** One label per output. */
  List<String> labels();

  /** A short name for tables and logs, e.g. {@code softmax@int8}. */
  String displayName();

  /**
   * Scores {@code in.rows()} rows into {@code out[row * outputs() + j]}.
   *
   * @throws IllegalArgumentException if {@code in}'s precision or dim does not match the kernel
   */
  void score(EncodedRows in, float[] out, VectorOps ops);

  /** Multiply-accumulates per row, for the ops/bytes energy model. */
  long macsPerRow();

  /** Bytes of parameters the kernel reads per row scored (they stay in cache across rows). */
  long parameterBytes();
}
