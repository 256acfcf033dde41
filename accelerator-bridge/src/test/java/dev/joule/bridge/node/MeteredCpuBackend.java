package dev.joule.bridge.node;

import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.vector.VectorOpsProvider;

/**
 * For tests of a measured node without a GPU: kernels run on the CPU, and the node's counter (a
 * test's fake GPU) is said to measure them, as NVML measures a GPU backend's batches.
 */
public final class MeteredCpuBackend implements ScoringBackend {

  private final CpuBackend cpu = new CpuBackend(VectorOpsProvider.get());

  @Override
  public String name() {
    return "metered " + cpu.name();
  }

  @Override
  public String declines(Kernel kernel, Precision rows) {
    return null;
  }

  @Override
  public boolean onMeteredDevice() {
    return true;
  }

  @Override
  public void score(Kernel kernel, EncodedRows rows, KernelOutput out) {
    cpu.score(kernel, rows, out);
  }
}
