package dev.joule.bridge.flight;

import dev.joule.bridge.node.InProcessTransport;
import dev.joule.bridge.node.KernelHandle;
import dev.joule.bridge.node.NodeException;
import dev.joule.bridge.node.NodeReading;
import dev.joule.bridge.node.NodeTransport;
import dev.joule.bridge.node.PartitionChannel;
import dev.joule.bridge.node.ScoredBatch;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.flight.Action;
import org.apache.arrow.flight.CallOption;
import org.apache.arrow.flight.CallOptions;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStatusCode;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.Result;
import org.apache.arrow.flight.auth2.BearerCredentialWriter;
import org.apache.arrow.flight.grpc.CredentialCallOption;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.VectorLoader;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.VectorUnloader;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Executors' side of the Flight bridge: a pool of accelerator nodes shared by every task of the
 * JVM. Each partition gets one {@code DoExchange} stream on the healthy node with the least
 * outstanding work. A node that fails with UNAVAILABLE or DEADLINE_EXCEEDED, or whose stream is
 * reset under the call (a node dying mid-partition), is kept out for a
 * cool-down and the partition moves on, with backoff, re-sending every batch not yet answered;
 * when every node has failed it the partition finishes in this JVM ({@code fallback =
 * in-process}) or fails ({@code fail}). Any other error (a refused batch, a bad token) fails the
 * partition at once: retrying cannot fix it. A failure never becomes a NULL score.
 */
public final class FlightTransport implements NodeTransport {

  private static final Logger LOG = LoggerFactory.getLogger(FlightTransport.class);
  private static final Map<BridgeSettings, FlightTransport> SHARED = new ConcurrentHashMap<>();

  private final BridgeSettings settings;
  private final BufferAllocator allocator = new RootAllocator();
  private final List<Endpoint> endpoints = new ArrayList<>();
  private final AtomicInteger rotation = new AtomicInteger();
  private volatile InProcessTransport fallback;

  public FlightTransport(BridgeSettings settings) {
    this.settings = settings;
    for (String address : settings.nodes()) {
      endpoints.add(new Endpoint(address));
    }
  }

  /** One transport per JVM and settings, so kernels are pushed and connections opened once. */
  public static FlightTransport shared(BridgeSettings settings) {
    return SHARED.computeIfAbsent(settings, FlightTransport::new);
  }

  /** Closes every shared transport (tests; a JVM that ends needs not). */
  public static void closeShared() {
    for (Iterator<FlightTransport> it = SHARED.values().iterator(); it.hasNext(); ) {
      it.next().close();
      it.remove();
    }
  }

  @Override
  public PartitionChannel open(KernelHandle kernel, BufferAllocator partitionAllocator) {
    return new Channel(kernel, partitionAllocator);
  }

  @Override
  public String describe() {
    return "flight(" + endpoints.size() + " node" + (endpoints.size() == 1 ? "" : "s") + ", fallback "
        + settings.fallback().label() + ")";
  }

  /** Memory held by client streams now: zero when no partition is in flight. */
  public long allocatedBytes() {
    return allocator.getAllocatedMemory();
  }

  @Override
  public void close() {
    for (Endpoint e : endpoints) {
      e.closeClient();
    }
    allocator.close();
  }

  /** Asks a node how it is (the {@code health} action); for tests and tools. */
  public String health(String address) {
    for (Endpoint e : endpoints) {
      if (e.address.equals(address)) {
        return e.health();
      }
    }
    throw new IllegalArgumentException("no node " + address + " in " + settings.nodes());
  }

  private CallOption[] options(long timeoutMs) {
    CallOption deadline = CallOptions.timeout(timeoutMs, TimeUnit.MILLISECONDS);
    return settings.token() == null ? new CallOption[] {deadline}
        : new CallOption[] {deadline, new CredentialCallOption(new BearerCredentialWriter(settings.token()))};
  }

  /** The untried node to use next: healthy ones first (least outstanding), then cooling ones. */
  private synchronized Endpoint pick(Set<Endpoint> tried) {
    long now = System.nanoTime();
    Endpoint best = null;
    int start = Math.floorMod(rotation.getAndIncrement(), endpoints.size());
    for (int i = 0; i < endpoints.size(); i++) {
      Endpoint e = endpoints.get((start + i) % endpoints.size());
      if (tried.contains(e) || e.downUntil > now) {
        continue;
      }
      if (best == null || e.outstanding.get() < best.outstanding.get()) {
        best = e;
      }
    }
    if (best != null) {
      return best;
    }
    // Every healthy node has been tried: still try each cooling one once before giving up.
    for (Endpoint e : endpoints) {
      if (!tried.contains(e) && (best == null || e.downUntil < best.downUntil)) {
        best = e;
      }
    }
    return best;
  }

  private InProcessTransport fallback() {
    InProcessTransport f = fallback;
    if (f == null) {
      f = InProcessTransport.shared();
      fallback = f;
    }
    return f;
  }

  /** What the client knows of one node. */
  private final class Endpoint {
    final String address;
    final String host;
    final int port;
    final AtomicInteger outstanding = new AtomicInteger();
    final Set<String> pushed = ConcurrentHashMap.newKeySet();
    final Map<String, Object> pushLocks = new ConcurrentHashMap<>();
    volatile long downUntil;
    volatile boolean checked;
    volatile String nodeId;
    private FlightClient client;

    Endpoint(String address) {
      this.address = address;
      Map.Entry<String, Integer> hp = BridgeSettings.parseAddress(address);
      this.host = hp.getKey();
      this.port = hp.getValue();
    }

    String label() {
      return nodeId != null ? nodeId + " (" + address + ")" : address;
    }

    synchronized FlightClient client() {
      if (client == null) {
        Location loc = settings.tls() ? Location.forGrpcTls(host, port) : Location.forGrpcInsecure(host, port);
        FlightClient.Builder b = FlightClient.builder(allocator, loc).maxInboundMessageSize(256 << 20);
        if (settings.tls() && settings.trustedCertPem() != null) {
          b.trustedCertificates(new ByteArrayInputStream(settings.trustedCertPem()));
        }
        client = b.build();
      }
      return client;
    }

    synchronized void closeClient() {
      if (client != null) {
        try {
          client.close();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
          LOG.debug("closing client of {}: {}", address, e.toString());
        }
        client = null;
      }
    }

    String health() {
      Iterator<Result> it = client().doAction(new Action(FlightProtocol.HEALTH), options(settings.actionTimeoutMs()));
      String json = it.hasNext() ? new String(it.next().getBody(), StandardCharsets.UTF_8) : "{}";
      while (it.hasNext()) {
        it.next();
      }
      try {
        String id = FlightProtocol.JSON.readTree(json).path("node").asText(null);
        if (id != null) {
          nodeId = id;
        }
      } catch (java.io.IOException e) {
        throw CallStatus.INTERNAL.withDescription("unreadable health answer: " + e.getMessage()).toRuntimeException();
      }
      return json;
    }

    /** Health-checked since it was last down, and holding the kernel. */
    void ensureReady(KernelHandle kernel) {
      if (!checked) {
        health();
        checked = true;
      }
      if (pushed.contains(kernel.id())) {
        return;
      }
      // Tasks of one executor start together: one of them pushes, the others wait for it.
      synchronized (pushLocks.computeIfAbsent(kernel.id(), k -> new Object())) {
        if (pushed.contains(kernel.id())) {
          return;
        }
        Iterator<Result> it = client().doAction(new Action(FlightProtocol.HAS_KERNEL,
            kernel.id().getBytes(StandardCharsets.UTF_8)), options(settings.actionTimeoutMs()));
        boolean has = it.hasNext() && "true".equals(new String(it.next().getBody(), StandardCharsets.UTF_8));
        while (it.hasNext()) {
          it.next();
        }
        if (!has) {
          push(kernel);
        }
        pushed.add(kernel.id());
      }
    }

    private void push(KernelHandle kernel) {
      long t0 = System.nanoTime();
      FlightProtocol.putKernel(client(), kernel.id(), kernel.bytes(), allocator, options(settings.actionTimeoutMs()));
      LOG.info("pushed {} to node {} in {} ms", kernel, label(), (System.nanoTime() - t0) / 1_000_000);
    }

    void markDown(String why) {
      downUntil = System.nanoTime() + settings.cooldownMs() * 1_000_000L;
      checked = false;
      pushed.clear(); // a node that comes back may be a new process with an empty cache
      LOG.warn("node {} failed ({}); kept out for {} ms", label(), why, settings.cooldownMs());
    }
  }

  /** A request batch not yet answered. */
  private record Pending(VectorSchemaRoot root, int rows) {}

  /** One partition's DoExchange stream on one node. */
  private final class Stream {
    final Endpoint endpoint;
    final FlightClient.ExchangeReaderWriter exchange;
    VectorSchemaRoot sendRoot;
    VectorLoader loader;
    int inFlight;

    Stream(Endpoint endpoint, FlightClient.ExchangeReaderWriter exchange) {
      this.endpoint = endpoint;
      this.exchange = exchange;
      endpoint.outstanding.incrementAndGet();
    }

    void write(Pending p, BufferAllocator alloc) {
      if (sendRoot == null) {
        sendRoot = VectorSchemaRoot.create(p.root().getSchema(), alloc);
        loader = new VectorLoader(sendRoot);
        // Zero copy: gRPC sends the Arrow buffers themselves (reference-counted until written).
        exchange.getWriter().setUseZeroCopy(true);
        exchange.getWriter().start(sendRoot);
      }
      try (ArrowRecordBatch rb = new VectorUnloader(p.root()).getRecordBatch()) {
        loader.load(rb);
      }
      exchange.getWriter().putNext();
      inFlight++;
    }

    /** Ends the stream normally, after every answer has been read. */
    void complete() {
      exchange.getWriter().completed();
      FlightStream reader = exchange.getReader();
      if (reader.next()) {
        throw CallStatus.INTERNAL.withDescription("node " + endpoint.label() + " answered more batches than sent")
            .toRuntimeException();
      }
      exchange.getResult();
      release(false);
    }

    /** Releases the stream; on failure, cancels it without waiting for the node. */
    void release(boolean cancel) {
      endpoint.outstanding.decrementAndGet();
      if (cancel) {
        try {
          exchange.getReader().cancel("partition moved to another node", null);
        } catch (RuntimeException ignored) {
          // the stream is already broken
        }
      }
      try {
        exchange.close();
      } catch (Exception ignored) {
        // closing a broken stream reports its error again
      }
      if (sendRoot != null) {
        sendRoot.close();
        sendRoot = null;
      }
    }
  }

  private final class Channel implements PartitionChannel {
    private final KernelHandle kernel;
    private final BufferAllocator alloc;
    private final List<Pending> unacked = new ArrayList<>();
    private final List<ScoredBatch> done = new ArrayList<>();
    private final Set<Endpoint> tried = new HashSet<>();
    private final List<String> failures = new ArrayList<>();
    private final Set<String> nodeIds = new LinkedHashSet<>();
    private Stream stream;
    private Endpoint attempting;
    private boolean inProcess;
    private int fallbackBatches;
    private int failovers;
    private int kernelRepushes;
    private boolean closed;

    Channel(KernelHandle kernel, BufferAllocator alloc) {
      this.kernel = kernel;
      this.alloc = alloc;
    }

    @Override
    public void send(VectorSchemaRoot request, int rows) {
      unacked.add(new Pending(request, rows));
      pump(false);
    }

    @Override
    public void send(dev.joule.bridge.kernel.EncodedRows rows) {
      send(dev.joule.bridge.BridgeBatches.toRequest(rows, alloc), rows.rows());
    }

    @Override
    public List<ScoredBatch> finish() {
      pump(true);
      return List.copyOf(done);
    }

    /** Moves batches until at most {@code window} (or, with {@code all}, none) are unanswered. */
    private void pump(boolean all) {
      while (true) {
        if (inProcess) {
          scoreInProcess();
          return;
        }
        try {
          if (stream == null && !openStream()) {
            continue; // moved to the in-process fallback
          }
          while (stream.inFlight < unacked.size()) {
            stream.write(unacked.get(stream.inFlight), alloc);
          }
          int limit = all ? 0 : settings.window();
          while (stream.inFlight > limit) {
            readOne();
          }
          if (all) {
            stream.complete(); // on failure, failed() releases it
            stream = null;
          }
          return;
        } catch (FlightRuntimeException e) {
          failed(e);
        } catch (IllegalStateException e) {
          // A node that answers the wrong shape is broken, not busy: do not hide it.
          abandon();
          throw new NodeException(e.getMessage(), e);
        }
      }
    }

    /** Opens a stream on the next node; false when there is none left and the fallback took over. */
    private boolean openStream() {
      Endpoint e = pick(tried);
      if (e == null) {
        if (settings.fallback() == BridgeSettings.Fallback.IN_PROCESS) {
          LOG.warn("every accelerator node failed this partition ({}); scoring it in this JVM (bridge.fallback = in-process)",
              String.join("; ", failures));
          inProcess = true;
          failovers++;
          return false;
        }
        throw new NodeException("no accelerator node could score this partition, and bridge.fallback = fail: "
            + String.join("; ", failures));
      }
      attempting = e;
      tried.add(e);
      e.ensureReady(kernel);
      stream = new Stream(e, e.client().doExchange(FlightProtocol.scoreExchange(kernel.id()),
          options(settings.streamTimeoutMs())));
      return true;
    }

    private void readOne() {
      FlightStream reader = stream.exchange.getReader();
      if (!reader.next()) {
        throw new IllegalStateException("node " + stream.endpoint.label() + " ended the stream with "
            + stream.inFlight + " batches unanswered");
      }
      ArrowBuf meta = reader.getLatestMetadata();
      if (meta == null) {
        throw new IllegalStateException("node " + stream.endpoint.label() + " answered a batch without its reading");
      }
      byte[] json = new byte[(int) meta.readableBytes()];
      meta.getBytes(0, json);
      NodeReading reading = FlightProtocol.parseReading(json);
      Pending p = unacked.get(0);
      ScoredBatch b = ScoredBatch.copyOf(reader.getRoot(), p.rows(), kernel.width(), kernel.neighbors(), reading);
      unacked.remove(0);
      p.root().close();
      done.add(b);
      nodeIds.add(reading.nodeId());
      stream.inFlight--;
    }

    private void failed(FlightRuntimeException e) {
      Endpoint ep = stream != null ? stream.endpoint : attempting;
      abandon();
      FlightStatusCode code = e.status().code();
      String why = describe(e);
      if (ep != null && !settings.tls() && code == FlightStatusCode.UNAVAILABLE
          && String.valueOf(e.status().description()).contains("Network closed")
          && TlsProbe.speaksTls(ep.host, ep.port, 2000)) {
        // A plain client is cut off by a TLS node without a word; name the cause.
        why += " (the node speaks TLS: set bridge.tls = true and bridge.tls-trusted-cert)";
        throw new NodeException("accelerator node " + ep.label() + " refused the connection: " + why, e);
      }
      if (code == FlightStatusCode.NOT_FOUND && ep != null && kernelRepushes++ < 3) {
        // The node lost the kernel (evicted or restarted): push it again and retry there.
        ep.pushed.remove(kernel.id());
        tried.remove(ep);
        return;
      }
      if (code == FlightStatusCode.UNAVAILABLE || code == FlightStatusCode.TIMED_OUT || streamBroken(e)) {
        if (ep != null) {
          ep.markDown(why);
          failures.add((ep.label()) + ": " + why);
        }
        failovers++;
        sleep(Math.min(5000, settings.backoffMs() << Math.max(0, Math.min(10, failures.size() - 1))));
        return;
      }
      throw new NodeException("accelerator node " + (ep == null ? "?" : ep.label()) + " refused the work: " + why, e);
    }

    /**
     * A node that dies mid-stream may reach the client as INTERNAL or CANCELLED carrying gRPC's
     * HTTP/2 reset ("RST_STREAM closed stream"), not as UNAVAILABLE, depending on timing: that is
     * a lost connection, not the node's answer. The node's own failures ("scoring failed: ...")
     * stay fatal.
     */
    private static boolean streamBroken(FlightRuntimeException e) {
      FlightStatusCode code = e.status().code();
      String d = String.valueOf(e.status().description());
      return (code == FlightStatusCode.INTERNAL || code == FlightStatusCode.CANCELLED)
          && (d.contains("RST_STREAM") || d.contains("HTTP/2 error code"));
    }

    private void abandon() {
      if (stream != null) {
        Stream s = stream;
        stream = null;
        s.release(true);
      }
    }

    private void scoreInProcess() {
      InProcessTransport f = fallback();
      while (!unacked.isEmpty()) {
        Pending p = unacked.remove(0);
        try (VectorSchemaRoot root = p.root()) {
          done.add(f.scoreNow(kernel, root, p.rows(), alloc));
        }
        fallbackBatches++;
      }
      nodeIds.add(f.nodeId());
    }

    @Override
    public List<String> nodeIds() {
      return List.copyOf(nodeIds);
    }

    @Override
    public int fallbackBatches() {
      return fallbackBatches;
    }

    @Override
    public int failovers() {
      return failovers;
    }

    @Override
    public void close() {
      if (closed) {
        return;
      }
      closed = true;
      abandon();
      for (Pending p : unacked) {
        p.root().close();
      }
      unacked.clear();
    }
  }

  /** The status and the node's own words, plus a hint where the cause is a known misconfiguration. */
  static String describe(FlightRuntimeException e) {
    String d = e.status().description();
    String s = e.status().code() + (d == null || d.isEmpty() ? "" : ": " + d);
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    if (root != e && root.getMessage() != null && (d == null || !d.contains(root.getMessage()))) {
      s += " (" + root.getMessage() + ")"; // e.g. "Connection refused" behind gRPC's "io exception"
    }
    String chain = causes(e).toLowerCase(java.util.Locale.ROOT);
    if (chain.contains("ssl") || chain.contains("tls") || chain.contains("handshake")
        || chain.contains("first received frame was not settings") || chain.contains("not an ssl")) {
      s += " (TLS mismatch? a node started with --tls-cert needs bridge.tls = true and its certificate in "
          + "bridge.tls-trusted-cert; a plain node needs bridge.tls = false)";
    }
    return s;
  }

  private static String causes(Throwable t) {
    StringBuilder b = new StringBuilder();
    for (Throwable c = t; c != null && b.length() < 4000; c = c.getCause()) {
      b.append(c.getClass().getSimpleName()).append(':').append(c.getMessage()).append(' ');
    }
    return b.toString();
  }

  private static void sleep(long ms) {
    if (ms <= 0) {
      return;
    }
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new NodeException("interrupted while waiting to retry on another node", e);
    }
  }
}
