package dev.joule.bridge.node;

import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.Precision;

/**
 * Where a node runs its kernels: this machine's CPU through its vector ops ({@link CpuBackend}),
 * or a GPU ({@code dev.joule.bridge.gpu.CudaBackend}). A backend may decline a kernel it has no
 * implementation for; the node then runs that kernel on its CPU backend and says so once.
 * Implementations are thread-safe: a node scores several streams at once.
 */
public interface ScoringBackend extends AutoCloseable {

  /** For readings and logs, e.g. {@code panama-512} or {@code cuda NVIDIA H200 (sm_90)}. */
  String name();

  /** Why this backend does not run {@code kernel} on rows at precision {@code rows}, or null where it does. */
  String declines(Kernel kernel, Precision rows);

  /**
   * Whether this backend's work is on the device the node's counter measures (a GPU's NVML): only
   * batches it scores carry a measured share.
   */
  default boolean onMeteredDevice() {
    return false;
  }

  /**
   * Scores a batch into {@code out}, as {@link Kernel#score} does on the CPU.
   *
   * @throws IllegalArgumentException if the rows do not fit the kernel
   */
  void score(Kernel kernel, EncodedRows rows, KernelOutput out);

  /**
   * The backend that scores {@code kernel} on {@code rows}: this one, or for a backend that routes
   * ({@link #withFallback}) its fallback where it declines.
   */
  default ScoringBackend choose(Kernel kernel, Precision rows) {
    return this;
  }

  /**
   * This backend, with the kernels it declines run on {@code fallback}; each declined kernel is
   * reported once to {@code onDecline} (the kernel, why).
   */
  default ScoringBackend withFallback(ScoringBackend fallback,
      java.util.function.BiConsumer<Kernel, String> onDecline) {
    ScoringBackend primary = this;
    java.util.Set<String> reported = java.util.concurrent.ConcurrentHashMap.newKeySet();
    return new ScoringBackend() {
      @Override
      public String name() {
        return primary.name() + ", else " + fallback.name();
      }

      @Override
      public String declines(Kernel kernel, Precision rows) {
        return null;
      }

      @Override
      public ScoringBackend choose(Kernel kernel, Precision rows) {
        String why = primary.declines(kernel, rows);
        if (why == null) {
          return primary;
        }
        // Once per kernel and precision (a kernel's identity hash may collide: a line lost at worst).
        if (reported.add(System.identityHashCode(kernel) + "/" + rows)) {
          onDecline.accept(kernel, why);
        }
        return fallback;
      }

      @Override
      public void score(Kernel kernel, EncodedRows rows, KernelOutput out) {
        choose(kernel, rows.precision()).score(kernel, rows, out);
      }

      @Override
      public void close() {
        try {
          primary.close();
        } finally {
          fallback.close();
        }
      }
    };
  }

  @Override
  default void close() {}
}
