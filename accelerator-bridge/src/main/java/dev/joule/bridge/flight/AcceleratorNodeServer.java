package dev.joule.bridge.flight;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.kernel.KernelLimits;
import dev.joule.bridge.node.CpuBackend;
import dev.joule.bridge.node.KernelCall;
import dev.joule.bridge.node.NodeEnergy;
import dev.joule.bridge.node.NodeMeter;
import dev.joule.bridge.node.NodeReading;
import dev.joule.bridge.node.ScoringBackend;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.arrow.flight.Action;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightServer;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.NoOpFlightProducer;
import org.apache.arrow.flight.PutResult;
import org.apache.arrow.flight.Result;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VectorLoader;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.VectorUnloader;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An accelerator node reached over Arrow Flight: a kernel cache, a scoring loop per
 * {@code DoExchange} stream, and health. Everything a client sends is untrusted: kernels are
 * hashed, parsed from Arrow IPC and shape-checked before they are cached; batches are checked
 * against their kernel and the size limit before they are scored. A bad request fails that call
 * only; the node keeps serving everyone else.
 */
public final class AcceleratorNodeServer implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(AcceleratorNodeServer.class);

  /**
   * How a node runs.
   *
   * @param token bearer token every call must carry; null = no authentication (loopback only)
   * @param tlsCert PEM certificate chain; with {@code tlsKey}, the node speaks TLS
   * @param stopAfterBatches testing hook: after answering this many batches the node stops as if
   *     its process died (-1 = never)
   * @param meter a measured counter read around every batch; null = the node's CPU estimate only
   * @param backend where kernels run (a GPU's), the kernels it declines on the CPU; null = the CPU
   *     alone; the node closes it
   */
  public record Options(String host, int port, String nodeId, File tlsCert, File tlsKey, String token,
      long maxBatchBytes, KernelLimits kernelLimits, long kernelCacheBytes, int summarySeconds,
      List<PowerProfile> powerProfiles, int stopAfterBatches, NodeMeter meter, ScoringBackend backend) {

    public Options {
      if (maxBatchBytes < 1 || kernelCacheBytes < 1) {
        throw new IllegalArgumentException("max batch bytes and kernel cache bytes must be positive");
      }
      if ((tlsCert == null) != (tlsKey == null)) {
        throw new IllegalArgumentException("TLS needs both a certificate and a key file");
      }
    }

    /** Loopback, an ephemeral port, no TLS, no token, the default limits. */
    public static Options loopback() {
      return new Options("127.0.0.1", 0, null, null, null, null, 64L << 20, KernelLimits.DEFAULT,
          2L << 30, 0, null, -1, null, null);
    }

    public Options withToken(String t) {
      return new Options(host, port, nodeId, tlsCert, tlsKey, t, maxBatchBytes, kernelLimits,
          kernelCacheBytes, summarySeconds, powerProfiles, stopAfterBatches, meter, backend);
    }

    public Options withTls(File cert, File key) {
      return new Options(host, port, nodeId, cert, key, token, maxBatchBytes, kernelLimits,
          kernelCacheBytes, summarySeconds, powerProfiles, stopAfterBatches, meter, backend);
    }

    public Options withLimits(long batchBytes, long kernelBytes) {
      return new Options(host, port, nodeId, tlsCert, tlsKey, token, batchBytes,
          kernelLimits.withMaxKernelBytes(kernelBytes), kernelCacheBytes, summarySeconds, powerProfiles,
          stopAfterBatches, meter, backend);
    }

    public Options withStopAfterBatches(int n) {
      return new Options(host, port, nodeId, tlsCert, tlsKey, token, maxBatchBytes, kernelLimits,
          kernelCacheBytes, summarySeconds, powerProfiles, n, meter, backend);
    }

    public Options withMeter(NodeMeter m) {
      return new Options(host, port, nodeId, tlsCert, tlsKey, token, maxBatchBytes, kernelLimits,
          kernelCacheBytes, summarySeconds, powerProfiles, stopAfterBatches, m, backend);
    }

    public Options withBackend(ScoringBackend b) {
      return new Options(host, port, nodeId, tlsCert, tlsKey, token, maxBatchBytes, kernelLimits,
          kernelCacheBytes, summarySeconds, powerProfiles, stopAfterBatches, meter, b);
    }

    @Override
    public String toString() { // never the token
      return "node options " + host + ":" + port + (tlsCert != null ? " tls" : "")
          + (token != null ? " token" : "") + " max-batch-bytes " + maxBatchBytes + " max-kernel-bytes "
          + kernelLimits.maxKernelBytes();
    }
  }

  private final Options options;
  private final BufferAllocator allocator;
  private final FlightServer server;
  private final String nodeId;
  private final int port;
  private final ScoringBackend backend;
  private final NodeEnergy energy;
  private final KernelCache kernels;
  private final ScheduledExecutorService summary;
  private final AtomicLong batches = new AtomicLong();
  private final AtomicLong rows = new AtomicLong();
  private final AtomicLong refused = new AtomicLong();
  private final AtomicLong kernelPushes = new AtomicLong();
  private final AtomicBoolean stopped = new AtomicBoolean();
  private final long startedAt = System.nanoTime();

  private AcceleratorNodeServer(Options options) throws IOException {
    this.options = options;
    this.allocator = new RootAllocator();
    CpuBackend cpu = new CpuBackend(VectorOpsProvider.get());
    this.backend = options.backend() == null ? cpu : options.backend().withFallback(cpu,
        (k, why) -> LOG.info("node {}: kernel {} runs on the CPU ({}): {}", nodeId(), k.displayName(), cpu.name(), why));
    this.kernels = new KernelCache(options.kernelCacheBytes());
    List<PowerProfile> profiles = options.powerProfiles() != null ? options.powerProfiles() : PowerProfile.bundled();
    PowerProfile profile = PowerProfile.choose(profiles, HardwareProfile.detect().cpuModel());
    NodeMeter meter = options.meter();
    this.energy = meter == null ? NodeEnergy.estimated(profile)
        : NodeEnergy.measured(profile, meter.counter(), meter.idle(), meter.clock());
    boolean tls = options.tlsCert() != null;
    Location location = tls ? Location.forGrpcTls(options.host(), options.port())
        : Location.forGrpcInsecure(options.host(), options.port());
    FlightServer.Builder b = FlightServer.builder(allocator, location, new Producer())
        // Batches and kernel chunks are checked with clear errors below this; gRPC refuses above.
        .maxInboundMessageSize((int) Math.min(Integer.MAX_VALUE - 1,
            Math.max(2 * options.maxBatchBytes(), 4L * FlightProtocol.CHUNK_BYTES) + (1 << 20)));
    // A request batch is megabytes; gRPC's default 1 MiB stream window would make the sender
    // wait for a window update several times per batch.
    b.transportHint("grpc.builderConsumer", (java.util.function.Consumer<io.grpc.netty.NettyServerBuilder>)
        nb -> nb.flowControlWindow((int) Math.min(64L << 20, Math.max(1 << 20, 2 * options.maxBatchBytes()))));
    if (tls) {
      b.useTls(options.tlsCert(), options.tlsKey());
    }
    if (options.token() != null) {
      b.headerAuthenticator(new TokenAuthenticator(options.token()));
    }
    FlightServer s = b.build();
    try {
      s.start();
    } catch (IOException | RuntimeException e) {
      allocator.close();
      throw e;
    }
    this.server = s;
    this.port = s.getPort();
    this.nodeId = options.nodeId() != null ? options.nodeId()
        : "accel@" + options.host() + ":" + s.getPort();
    if (options.summarySeconds() > 0) {
      summary = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "joule-node-summary");
        t.setDaemon(true);
        return t;
      });
      summary.scheduleAtFixedRate(() -> LOG.info(summaryLine()), options.summarySeconds(),
          options.summarySeconds(), TimeUnit.SECONDS);
    } else {
      summary = null;
    }
    LOG.info("node {} listening on {}://{}:{} ({}, {}, backend {}, energy {})", nodeId,
        tls ? "grpc+tls" : "grpc", options.host(), s.getPort(),
        options.token() != null ? "bearer token required" : "no token", options, backend.name(), energy.describe());
    if (options.token() == null && !isLoopback(options.host())) {
      LOG.warn("node {} listens on {} without a token: anyone who reaches the port can use it", nodeId,
          options.host());
    }
  }

  public static AcceleratorNodeServer start(Options options) throws IOException {
    return new AcceleratorNodeServer(options);
  }

  private static boolean isLoopback(String host) {
    return host.equals("127.0.0.1") || host.equals("localhost") || host.equals("::1");
  }

  public int port() {
    return port;
  }

  public String nodeId() {
    return nodeId;
  }

  /** host:port, as a client's {@code bridge.nodes} names it. */
  public String address() {
    return options.host() + ":" + port;
  }

  public long batchesAnswered() {
    return batches.get();
  }

  /** Kernel pushes received (accepted or not): a client pushes each kernel once per node. */
  public long kernelPushes() {
    return kernelPushes.get();
  }

  public int kernelsCached() {
    return kernels.size();
  }

  public String summaryLine() {
    return String.format("node %s: %d kernels (%d bytes) cached, %d batches, %d rows scored, %d requests refused, up %d s",
        nodeId, kernels.size(), kernels.bytes(), batches.get(), rows.get(), refused.get(),
        (System.nanoTime() - startedAt) / 1_000_000_000L);
  }

  /** Blocks until the server stops. */
  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }

  /** Stops the node as its process dying would: new and open calls fail with UNAVAILABLE. */
  public void kill() {
    if (stopped.compareAndSet(false, true)) {
      LOG.warn("node {} stopping now (test hook or kill)", nodeId);
      Thread t = new Thread(() -> {
        try {
          server.shutdown();
          server.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }, "joule-node-kill");
      t.setDaemon(true);
      t.start();
    }
  }

  public boolean stopped() {
    return stopped.get();
  }

  @Override
  public void close() throws InterruptedException {
    stopped.set(true);
    if (summary != null) {
      summary.shutdownNow();
    }
    try {
      server.shutdown();
      if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
        server.close();
      }
    } finally {
      LOG.info(summaryLine());
      backend.close();
      // A handler whose call was cut off by the shutdown (a node killed mid-stream) can still be
      // releasing its batch on Flight's executor after termination: let it finish (bounded) so
      // that what close() reports as leaked really is.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (allocator.getAllocatedMemory() != 0 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      long held = allocator.getAllocatedMemory();
      if (held == 0) {
        allocator.close();
      } else {
        // gRPC may refuse to run a cut-off call's cleanup on an executor that is shutting down;
        // its buffers die with the process. Say so rather than fail the shutdown. (Tests check
        // allocatedBytes() == 0 before closing a node that was not killed.)
        LOG.warn("node {}: {} bytes of calls cut off by the shutdown were not released", nodeId, held);
      }
    }
  }

  /** Memory the node holds in Arrow buffers now: zero when no call is in flight. */
  public long allocatedBytes() {
    return allocator.getAllocatedMemory();
  }

  private FlightRuntimeException refuse(CallStatus status, String message) {
    refused.incrementAndGet();
    return status.withDescription("node " + nodeId + ": " + message).toRuntimeException();
  }

  private void checkAlive() {
    if (stopped.get()) {
      throw CallStatus.UNAVAILABLE.withDescription("node " + nodeId + " is stopping").toRuntimeException();
    }
  }

  /** Rejects a batch over the size limit before any work; whether it fits the kernel is the kernel's check. */
  private void checkSize(VectorSchemaRoot req) {
    long size = 0;
    for (FieldVector v : req.getFieldVectors()) {
      size += v.getBufferSize();
    }
    if (size > options.maxBatchBytes()) {
      throw refuse(CallStatus.INVALID_ARGUMENT, "batch of " + size + " bytes exceeds the limit of "
          + options.maxBatchBytes() + " bytes (--max-batch-bytes); lower joule.score.max-batch-bytes");
    }
  }

  private NodeReading score(Kernel k, VectorSchemaRoot req, VectorLoader loader, NodeEnergy.Stream spans) {
    spans.arrived(req.getRowCount());
    KernelCall call;
    try {
      call = KernelCall.run(k, req, backend, allocator);
    } catch (IllegalArgumentException e) {
      throw refuse(CallStatus.INVALID_ARGUMENT, "batch refused by kernel " + k.displayName() + ": " + e.getMessage());
    }
    long bytesOut = 0;
    try (VectorSchemaRoot resp = call.response();
        ArrowRecordBatch rb = new VectorUnloader(resp).getRecordBatch()) {
      loader.load(rb);
      for (FieldVector v : resp.getFieldVectors()) {
        bytesOut += v.getBufferSize();
      }
    }
    // The node's own figures: this thread's CPU time on the node's hardware profile, and the
    // measured device's share where it has one. DRAM is left to the executor's record (the node
    // holds no task memory of its own to attribute).
    return new NodeReading(nodeId, call.backend().name(), call.cpuNanos(), call.wallNanos(), call.rows().rows(),
        call.rows().payloadBytes(), bytesOut, spans.scored(call.cpuNanos(), call.backend().onMeteredDevice()));
  }

  /** The error a call answers with: a refusal as it is; anything else is logged and INTERNAL. */
  private FlightRuntimeException callError(String what, RuntimeException e) {
    if (e instanceof FlightRuntimeException f) {
      return f;
    }
    if (e instanceof org.apache.arrow.memory.OutOfMemoryException) {
      return outOfMemory(what, e);
    }
    LOG.warn("node {}: {} failed", nodeId, what, e);
    return refuse(CallStatus.INTERNAL, what + " failed: " + e);
  }

  /**
   * A call that ran out of memory (the heap or Arrow's allocator) is logged and answered
   * RESOURCE_EXHAUSTED: the client hears why, and the node goes on serving other calls.
   */
  private FlightRuntimeException outOfMemory(String what, Throwable e) {
    LOG.error("node {}: {} ran out of memory ({}); the call is refused, the node keeps serving", nodeId, what, e.toString());
    return CallStatus.RESOURCE_EXHAUSTED.withDescription(what + " ran out of memory on node " + nodeId + ": " + e.getMessage())
        .toRuntimeException();
  }

  private final class Producer extends NoOpFlightProducer {

    @Override
    public void doExchange(CallContext context, FlightStream reader, ServerStreamListener writer) {
      try {
        checkAlive();
        String kernelId = FlightProtocol.kernelIdOf(reader.getDescriptor(), FlightProtocol.SCORE);
        if (kernelId == null) {
          throw refuse(CallStatus.INVALID_ARGUMENT, "a scoring stream must name a kernel: path [score, <sha-256>]");
        }
        Kernel k = kernels.get(kernelId);
        if (k == null) {
          throw refuse(CallStatus.NOT_FOUND, "no kernel " + kernelId + " (push it first)");
        }
        try (NodeEnergy.Stream spans = energy.openStream(backend.choose(k, k.queryPrecision()).onMeteredDevice());
            VectorSchemaRoot out = VectorSchemaRoot.create(
            BridgeBatches.responseSchema(k.width(), k.neighbors()), allocator)) {
          VectorLoader loader = new VectorLoader(out);
          boolean started = false;
          while (reader.next()) {
            checkAlive();
            VectorSchemaRoot req = reader.getRoot();
            checkSize(req);
            NodeReading reading = score(k, req, loader, spans);
            if (!started) {
              writer.setUseZeroCopy(true);
              writer.start(out);
              started = true;
            }
            byte[] meta = FlightProtocol.readingJson(reading);
            ArrowBuf buf = allocator.buffer(meta.length);
            buf.writeBytes(meta);
            writer.putNext(buf); // takes ownership of buf
            rows.addAndGet(reading.rows());
            long answered = batches.incrementAndGet();
            if (options.stopAfterBatches() >= 0 && answered >= options.stopAfterBatches()) {
              kill();
            }
          }
          if (!started) {
            writer.start(out);
          }
          writer.completed();
        }
      } catch (RuntimeException e) {
        writer.error(callError("scoring", e));
      } catch (OutOfMemoryError e) {
        writer.error(outOfMemory("scoring", e));
      }
    }

    @Override
    public Runnable acceptPut(CallContext context, FlightStream stream, StreamListener<PutResult> ack) {
      return () -> {
        kernelPushes.incrementAndGet();
        try {
          checkAlive();
          String id = FlightProtocol.kernelIdOf(stream.getDescriptor(), FlightProtocol.KERNEL);
          if (id == null) {
            throw refuse(CallStatus.INVALID_ARGUMENT, "a kernel push must name its id: path [kernel, <sha-256>]");
          }
          long max = options.kernelLimits().maxKernelBytes();
          ByteArrayOutputStream bytes = new ByteArrayOutputStream();
          while (stream.next()) {
            VectorSchemaRoot root = stream.getRoot();
            if (!(root.getVector("chunk") instanceof VarBinaryVector chunks)) {
              throw refuse(CallStatus.INVALID_ARGUMENT, "a kernel push carries batches of one 'chunk' binary column");
            }
            for (int i = 0; i < root.getRowCount(); i++) {
              byte[] c = chunks.get(i);
              if (c == null) {
                continue;
              }
              if (bytes.size() + (long) c.length > max) {
                throw refuse(CallStatus.INVALID_ARGUMENT, "kernel " + id.substring(0, 12) + " exceeds the limit of "
                    + max + " bytes (--max-kernel-bytes)");
              }
              bytes.write(c, 0, c.length);
            }
          }
          if (!kernels.contains(id)) {
            Kernel k;
            try {
              k = KernelCodec.decodeUntrusted(bytes.toByteArray(), id, options.kernelLimits());
            } catch (IllegalArgumentException e) {
              throw refuse(CallStatus.INVALID_ARGUMENT, e.getMessage());
            }
            List<String> evicted = kernels.put(id, k, bytes.size());
            LOG.info("node {}: kernel {} pushed ({}, {} bytes){}", nodeId, id.substring(0, 12), k.displayName(),
                bytes.size(), evicted.isEmpty() ? "" : "; evicted " + evicted.size() + " least recently used");
          }
          ack.onNext(PutResult.empty());
          ack.onCompleted();
        } catch (RuntimeException e) {
          ack.onError(callError("kernel push", e));
        } catch (OutOfMemoryError e) {
          ack.onError(outOfMemory("kernel push", e));
        }
      };
    }

    @Override
    public void doAction(CallContext context, Action action, StreamListener<Result> listener) {
      try {
        checkAlive();
        switch (action.getType()) {
          case FlightProtocol.HEALTH -> {
            String json = FlightProtocol.JSON.createObjectNode().put("node", nodeId).put("status", "serving")
                .put("kernels", kernels.size()).put("kernel_bytes", kernels.bytes())
                .put("batches", batches.get()).put("rows", rows.get()).put("vector_ops", backend.name())
                .put("energy", energy.describe()).put("energy_measured", energy.measuring())
                .put("max_batch_bytes", options.maxBatchBytes())
                .put("max_kernel_bytes", options.kernelLimits().maxKernelBytes()).toString();
            listener.onNext(new Result(json.getBytes(StandardCharsets.UTF_8)));
          }
          case FlightProtocol.HAS_KERNEL -> {
            String id = new String(action.getBody(), StandardCharsets.UTF_8);
            listener.onNext(new Result(Boolean.toString(kernels.contains(id)).getBytes(StandardCharsets.UTF_8)));
          }
          default -> throw refuse(CallStatus.UNIMPLEMENTED, "unknown action " + action.getType());
        }
        listener.onCompleted();
      } catch (FlightRuntimeException e) {
        listener.onError(e);
      }
    }
  }
}
