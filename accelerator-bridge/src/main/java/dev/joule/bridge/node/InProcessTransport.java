package dev.joule.bridge.node;

import dev.joule.bridge.kernel.EncodedRows;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * The embedded default: every batch is scored at once on the sending thread by a node in this
 * JVM. Nothing can fail over, so results are simply kept until {@link PartitionChannel#finish()}.
 */
public final class InProcessTransport implements NodeTransport {

  private final InProcessAcceleratorNode node;

  public InProcessTransport(InProcessAcceleratorNode node) {
    this.node = node;
  }

  /** The transport over {@link InProcessAcceleratorNode#shared()}. */
  public static InProcessTransport shared() {
    return new InProcessTransport(InProcessAcceleratorNode.shared());
  }

  @Override
  public PartitionChannel open(KernelHandle kernel, BufferAllocator allocator) {
    ensureKernel(kernel);
    return new Channel(kernel, allocator);
  }

  private void ensureKernel(KernelHandle kernel) {
    if (!node.hasKernel(kernel.id())) {
      node.pushKernel(kernel.bytes());
    }
  }

  /** Scores one batch on this thread; the Flight transport's in-process fallback uses it too. */
  public ScoredBatch scoreNow(KernelHandle kernel, VectorSchemaRoot request, int rows,
      BufferAllocator allocator) {
    ensureKernel(kernel);
    try (ScoreReply reply = node.score(kernel.id(), request, allocator)) {
      return ScoredBatch.copyOf(reply.scores(), rows, kernel.width(), kernel.neighbors(), reply.reading());
    }
  }

  /** Scores encoded rows on this thread, without an Arrow batch either way. */
  public ScoredBatch scoreNow(KernelHandle kernel, EncodedRows rows) {
    ensureKernel(kernel);
    return node.scoreEncoded(kernel.id(), rows);
  }

  public String nodeId() {
    return node.nodeId();
  }

  @Override
  public String describe() {
    return "in-process";
  }

  @Override
  public void close() {
    // the shared node lives as long as the JVM
  }

  private final class Channel implements PartitionChannel {
    private final KernelHandle kernel;
    private final BufferAllocator allocator;
    private final List<ScoredBatch> done = new ArrayList<>();

    Channel(KernelHandle kernel, BufferAllocator allocator) {
      this.kernel = kernel;
      this.allocator = allocator;
    }

    @Override
    public void send(VectorSchemaRoot request, int rows) {
      try (request) {
        done.add(scoreNow(kernel, request, rows, allocator));
      }
    }

    @Override
    public void send(EncodedRows rows) {
      done.add(scoreNow(kernel, rows));
    }

    @Override
    public List<ScoredBatch> finish() {
      return List.copyOf(done);
    }

    @Override
    public List<String> nodeIds() {
      return List.of(node.nodeId());
    }

    @Override
    public int fallbackBatches() {
      return 0;
    }

    @Override
    public int failovers() {
      return 0;
    }

    @Override
    public void close() {
      done.clear();
    }
  }
}
