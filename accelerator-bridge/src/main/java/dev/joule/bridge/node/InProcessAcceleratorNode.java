package dev.joule.bridge.node;

import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded default: an accelerator node inside the executor's JVM. Batches still cross the
 * bridge as Arrow record batches, so the executor code is the same as with a remote node; only
 * the transport differs. Kernel CPU time is the calling thread's, since the kernel runs on it.
 */
public final class InProcessAcceleratorNode implements AcceleratorNode {

  private static final Logger LOG = LoggerFactory.getLogger(InProcessAcceleratorNode.class);
  private static volatile InProcessAcceleratorNode shared;

  private final String nodeId;
  private final VectorOps ops;
  private final Map<String, Kernel> kernels = new ConcurrentHashMap<>();
  private final java.util.concurrent.atomic.AtomicLong decodes = new java.util.concurrent.atomic.AtomicLong();

  public InProcessAcceleratorNode(String nodeId, VectorOps ops) {
    this.nodeId = nodeId;
    this.ops = ops;
  }

  /** One node per JVM, shared by every task of the executor, so a kernel is pushed once. */
  public static InProcessAcceleratorNode shared() {
    InProcessAcceleratorNode n = shared;
    if (n == null) {
      synchronized (InProcessAcceleratorNode.class) {
        n = shared;
        if (n == null) {
          n = new InProcessAcceleratorNode("in-process@" + ProcessHandle.current().pid(),
              VectorOpsProvider.get());
          shared = n;
        }
      }
    }
    return n;
  }

  @Override
  public String nodeId() {
    return nodeId;
  }

  public VectorOps vectorOps() {
    return ops;
  }

  @Override
  public String pushKernel(byte[] kernelIpc) {
    String id = KernelCodec.kernelId(kernelIpc);
    kernels.computeIfAbsent(id, k -> {
      Kernel kernel = KernelCodec.decode(kernelIpc);
      decodes.incrementAndGet();
      LOG.info("node {}: kernel {} pushed ({}, {} bytes)", nodeId, id.substring(0, 12),
          kernel.displayName(), kernelIpc.length);
      return kernel;
    });
    return id;
  }

  /**
   * The kernel with these IPC bytes, decoded on first use and kept for the life of the JVM: for
   * callers that score row by row in the executor (SQL functions) rather than by Arrow batch.
   */
  public Kernel kernel(byte[] kernelIpc) {
    return kernels.get(pushKernel(kernelIpc));
  }

  /** Kernels decoded since the node started: once per kernel, however many tasks use it. */
  public long kernelsDecoded() {
    return decodes.get();
  }

  @Override
  public boolean hasKernel(String kernelId) {
    return kernels.containsKey(kernelId);
  }

  @Override
  public ScoreReply score(String kernelId, VectorSchemaRoot request, BufferAllocator replyAllocator) {
    Kernel kernel = kernels.get(kernelId);
    if (kernel == null) {
      throw new UnknownKernelException(nodeId, kernelId);
    }
    KernelCall call = KernelCall.run(kernel, request, new CpuBackend(ops), replyAllocator);
    return new ScoreReply(call.response(), reading(kernel, call.rows(), call.cpuNanos(), call.wallNanos()));
  }

  /**
   * Scores rows as the executor encoded them, with no Arrow batch either way: the in-process
   * path. Timed and read like {@link #score}; the bytes are those a request and response batch
   * would carry, so energy rows count the same bytes whichever way a batch went.
   */
  public ScoredBatch scoreEncoded(String kernelId, EncodedRows rows) {
    Kernel kernel = kernels.get(kernelId);
    if (kernel == null) {
      throw new UnknownKernelException(nodeId, kernelId);
    }
    KernelCall.Direct call = KernelCall.run(kernel, rows, ops);
    return ScoredBatch.of(call.output(), reading(kernel, rows, call.cpuNanos(), call.wallNanos()));
  }

  private NodeReading reading(Kernel kernel, EncodedRows rows, long cpuNanos, long wallNanos) {
    long bytesOut = 4L * rows.rows() * (kernel.width() * (kernel.neighbors() ? 2 : 1) + 2);
    return new NodeReading(nodeId, ops.name(), cpuNanos, wallNanos, rows.rows(), rows.payloadBytes(), bytesOut, java.util.List.of());
  }

  @Override
  public void close() {
    kernels.clear();
  }
}
