package dev.joule.bridge.kernel;

/**
 * Bounds a node puts on a kernel pushed to it, which is untrusted input: its bytes, the row
 * width, the number of outputs (classes, centroids, k) and the rows of a top-k reference set.
 * {@link KernelCodec#decodeUntrusted} checks them before the kernel is cached.
 */
public record KernelLimits(long maxKernelBytes, int maxDim, int maxWidth, long maxReferenceRows) {

  /** 1 GiB of kernel, 65 536-d rows, 100 000 outputs, 5 M reference rows. */
  public static final KernelLimits DEFAULT = new KernelLimits(1L << 30, 65_536, 100_000, 5_000_000L);

  public KernelLimits {
    if (maxKernelBytes < 1 || maxDim < 1 || maxWidth < 1 || maxReferenceRows < 1) {
      throw new IllegalArgumentException("kernel limits must be positive");
    }
  }

  public KernelLimits withMaxKernelBytes(long bytes) {
    return new KernelLimits(bytes, maxDim, maxWidth, maxReferenceRows);
  }

  /** Throws {@link IllegalArgumentException} naming the first shape outside the limits. */
  public void check(Kernel k) {
    if (k.dim() < 1 || k.dim() > maxDim) {
      throw new IllegalArgumentException("kernel dim " + k.dim() + " outside 1.." + maxDim);
    }
    if (k.width() < 1 || k.width() > maxWidth) {
      throw new IllegalArgumentException("kernel has " + k.width() + " outputs, limit 1.." + maxWidth);
    }
    if (!k.neighbors() && k.labels().size() != k.width()) {
      throw new IllegalArgumentException("kernel has " + k.width() + " outputs but " + k.labels().size() + " labels");
    }
    if (k.neighbors() && k.labels().size() > maxReferenceRows) {
      throw new IllegalArgumentException("reference set of " + k.labels().size() + " rows exceeds the limit of "
          + maxReferenceRows);
    }
  }
}
