package dev.joule.bridge.node;

import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.vector.VectorOps;

/** Kernels on this machine's CPU, on the calling thread, through {@code ops}: every kernel runs here. */
public record CpuBackend(VectorOps ops) implements ScoringBackend {

  @Override
  public String name() {
    return ops.name();
  }

  @Override
  public String declines(Kernel kernel, Precision rows) {
    return null;
  }

  @Override
  public void score(Kernel kernel, EncodedRows rows, KernelOutput out) {
    kernel.score(rows, out, ops);
  }
}
