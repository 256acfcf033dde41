package dev.joule.bridge.node;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.vector.VectorOps;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * One request batch through one kernel, as every node does it: read the batch, score, write the
 * response, and time it on the calling thread. Whether the batch fits the kernel (precision,
 * dim, rescoring rows) is the kernel's rule ({@link Kernel#score}), not the node's.
 *
 * @param response owned by the caller
 * @param backend the backend that scored the batch
 */
public record KernelCall(VectorSchemaRoot response, EncodedRows rows, ScoringBackend backend, long cpuNanos,
    long wallNanos) {

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  /**
   * @throws IllegalArgumentException if the batch cannot be read or does not fit the kernel
   */
  public static KernelCall run(Kernel kernel, VectorSchemaRoot request, ScoringBackend backend,
      BufferAllocator allocator) {
    long cpu0 = THREADS.getCurrentThreadCpuTime();
    long wall0 = System.nanoTime();
    EncodedRows rows = BridgeBatches.fromRequest(request);
    KernelOutput out = kernel.newOutput();
    ScoringBackend used = backend.choose(kernel, rows.precision());
    used.score(kernel, rows, out);
    VectorSchemaRoot response = BridgeBatches.toResponse(out, allocator);
    return new KernelCall(response, rows, used, THREADS.getCurrentThreadCpuTime() - cpu0,
        System.nanoTime() - wall0);
  }

  /** Rows scored in this JVM without an Arrow batch: the kernel's own output, timed the same way. */
  public record Direct(KernelOutput output, long cpuNanos, long wallNanos) {}

  /**
   * @throws IllegalArgumentException if the rows do not fit the kernel
   */
  public static Direct run(Kernel kernel, EncodedRows rows, VectorOps ops) {
    long cpu0 = THREADS.getCurrentThreadCpuTime();
    long wall0 = System.nanoTime();
    KernelOutput out = kernel.newOutput();
    kernel.score(rows, out, ops);
    return new Direct(out, THREADS.getCurrentThreadCpuTime() - cpu0, System.nanoTime() - wall0);
  }
}
