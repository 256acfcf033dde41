package dev.joule.bridge.flight;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.EnergyMethod;
import dev.joule.bridge.energy.meter.IdlePower;
import dev.joule.bridge.energy.meter.SteadyGpuCounter;
import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.kernel.KernelPayload;
import dev.joule.bridge.kernel.LinearKernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.kernel.Similarity;
import dev.joule.bridge.kernel.TopKKernel;
import dev.joule.bridge.node.InProcessAcceleratorNode;
import dev.joule.bridge.node.InProcessTransport;
import dev.joule.bridge.node.KernelHandle;
import dev.joule.bridge.node.MeteredCpuBackend;
import dev.joule.bridge.node.NodeException;
import dev.joule.bridge.node.NodeMeter;
import dev.joule.bridge.node.PartitionChannel;
import dev.joule.bridge.node.ScoredBatch;
import dev.joule.bridge.vector.ScalarVectorOps;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.flight.Action;
import org.apache.arrow.flight.CallOptions;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStatusCode;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.Result;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real Flight nodes on 127.0.0.1 and the client transport against them: results equal the
 * in-process node's, failover never loses or repeats a batch, limits and bad input are refused
 * with clear errors while the node keeps serving, and every allocator ends empty.
 */
class FlightNodeIT {

  static final int DIM = 64;
  static final Random RND = new Random(42);
  static final LinearKernel LINEAR = LinearKernel.fromWeights(randomMatrix(7, DIM), new float[7],
      List.of("a", "b", "c", "d", "e", "f", "g"), Activation.SOFTMAX, Precision.INT8);
  static final byte[] LINEAR_BYTES = KernelCodec.encode(LINEAR);
  static final KernelHandle HANDLE = KernelHandle.of(LINEAR_BYTES, LINEAR);

  final List<AcceleratorNodeServer> servers = new ArrayList<>();
  final List<FlightTransport> transports = new ArrayList<>();
  BufferAllocator alloc;

  @BeforeEach
  void setUp() {
    alloc = new RootAllocator();
  }

  @AfterEach
  void tearDown() throws Exception {
    for (FlightTransport t : transports) {
      assertEquals(0, t.allocatedBytes(), "client streams leaked buffers");
      t.close();
    }
    for (AcceleratorNodeServer s : servers) {
      if (!s.stopped()) {
        // A stream the node refused is cleaned up on gRPC's threads after the client has its
        // error: give that a moment; a real leak still fails.
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (s.allocatedBytes() != 0 && System.nanoTime() < deadline) {
          Thread.sleep(10);
        }
        assertEquals(0, s.allocatedBytes(), "node leaked buffers");
      }
      s.close();
    }
    assertEquals(0, alloc.getAllocatedMemory(), "partition allocator leaked buffers");
    alloc.close();
  }

  static float[][] randomMatrix(int rows, int dim) {
    float[][] m = new float[rows][dim];
    for (float[] r : m) {
      for (int i = 0; i < dim; i++) {
        r[i] = (float) RND.nextGaussian();
      }
    }
    return m;
  }

  static float[] randomRows(int rows, int dim, long seed) {
    Random r = new Random(seed);
    float[] v = new float[rows * dim];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  AcceleratorNodeServer node(AcceleratorNodeServer.Options o) throws Exception {
    AcceleratorNodeServer s = AcceleratorNodeServer.start(o);
    servers.add(s);
    return s;
  }

  FlightTransport transport(BridgeSettings s) {
    FlightTransport t = new FlightTransport(s.withTimeouts(60_000, 10_000, 10, 30_000));
    transports.add(t);
    return t;
  }

  static BridgeSettings settings(BridgeSettings.Fallback f, AcceleratorNodeServer... nodes) {
    List<String> a = new ArrayList<>();
    for (AcceleratorNodeServer n : nodes) {
      a.add(n.address());
    }
    return BridgeSettings.of(a, f);
  }

  /** Sends {@code batches} batches of {@code rows} int8 rows through a channel and finishes it. */
  List<ScoredBatch> score(PartitionChannel ch, int batches, int rows, long seed) {
    try (ch) {
      for (int b = 0; b < batches; b++) {
        EncodedRows er = EncodedRows.encode(Precision.INT8, rows, DIM, randomRows(rows, DIM, seed + b));
        ch.send(BridgeBatches.toRequest(er, alloc), rows);
      }
      return ch.finish();
    }
  }

  List<ScoredBatch> inProcess(KernelHandle k, int batches, int rows, long seed) {
    InProcessTransport t = new InProcessTransport(new InProcessAcceleratorNode("reference", ScalarVectorOps.INSTANCE));
    return score(t.open(k, alloc), batches, rows, seed);
  }

  static void assertSameResults(List<ScoredBatch> expected, List<ScoredBatch> actual) {
    assertEquals(expected.size(), actual.size(), "batches");
    for (int i = 0; i < expected.size(); i++) {
      assertArrayEquals(expected.get(i).labels(), actual.get(i).labels(), "labels of batch " + i);
      assertArrayEquals(expected.get(i).scores(), actual.get(i).scores(), "scores of batch " + i);
      assertArrayEquals(expected.get(i).indices(), actual.get(i).indices(), "indices of batch " + i);
    }
  }

  @Test
  void twoNodesGiveTheInProcessResultsAndEachKernelIsPushedOncePerNode() throws Exception {
    AcceleratorNodeServer a = node(AcceleratorNodeServer.Options.loopback());
    AcceleratorNodeServer b = node(AcceleratorNodeServer.Options.loopback());
    FlightTransport t = transport(settings(BridgeSettings.Fallback.FAIL, a, b));
    List<String> answered = new ArrayList<>();
    for (int p = 0; p < 4; p++) {
      PartitionChannel ch = t.open(HANDLE, alloc);
      List<ScoredBatch> got = score(ch, 5, 300, 100 * p);
      assertSameResults(inProcess(HANDLE, 5, 300, 100 * p), got);
      answered.addAll(ch.nodeIds());
      assertEquals(0, ch.fallbackBatches());
      got.forEach(s -> assertTrue(s.reading().nodeEnergy().size() == 1
          && s.reading().nodeEnergy().get(0).component().equals("node_cpu")
          && s.reading().nodeEnergy().get(0).joules() >= 0 && !s.reading().measured(),
          "a remote node without a counter reports its own CPU estimate: " + s.reading().nodeEnergy()));
    }
    assertTrue(answered.contains(a.nodeId()) && answered.contains(b.nodeId()), "both nodes used: " + answered);
    assertEquals(1, a.kernelPushes(), "kernel pushed once to node a");
    assertEquals(1, b.kernelPushes(), "kernel pushed once to node b");
    assertEquals(20, a.batchesAnswered() + b.batchesAnswered());
    assertTrue(t.health(a.address()).contains("\"status\":\"serving\""));
  }

  @Test
  void partitionsStartingTogetherPushTheKernelOnce() throws Exception {
    AcceleratorNodeServer a = node(AcceleratorNodeServer.Options.loopback());
    FlightTransport t = transport(settings(BridgeSettings.Fallback.FAIL, a));
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
    try {
      List<java.util.concurrent.Future<List<ScoredBatch>>> f = new ArrayList<>();
      for (int p = 0; p < 4; p++) {
        long seed = 50 + p;
        f.add(pool.submit(() -> score(t.open(HANDLE, alloc), 2, 100, seed)));
      }
      for (int p = 0; p < 4; p++) {
        assertSameResults(inProcess(HANDLE, 2, 100, 50 + p), f.get(p).get());
      }
    } finally {
      pool.shutdown();
    }
    assertEquals(1, a.kernelPushes());
  }

  @Test
  void topKKernelThroughANode() throws Exception {
    float[] ref = randomRows(500, DIM, 7);
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 500; i++) {
      ids.add("r" + i);
    }
    TopKKernel k = TopKKernel.fromReference(ref, 500, DIM, ids, Similarity.COSINE, 5, Precision.BINARY, 4, Precision.INT8);
    byte[] bytes = KernelCodec.encode(k);
    KernelHandle h = KernelHandle.of(bytes, k);
    AcceleratorNodeServer a = node(AcceleratorNodeServer.Options.loopback());
    FlightTransport t = transport(settings(BridgeSettings.Fallback.FAIL, a));
    List<ScoredBatch> expected;
    List<ScoredBatch> got;
    try (PartitionChannel ref1 = new InProcessTransport(new InProcessAcceleratorNode("ref", ScalarVectorOps.INSTANCE))
        .open(h, alloc); PartitionChannel ch = t.open(h, alloc)) {
      for (int b = 0; b < 3; b++) {
        float[] v = randomRows(100, DIM, 900 + b);
        EncodedRows er = EncodedRows.encode(Precision.BINARY, 100, DIM, v).withRescore(EncodedRows.encode(Precision.INT8, 100, DIM, v));
        ref1.send(BridgeBatches.toRequest(er, alloc), 100);
        ch.send(BridgeBatches.toRequest(er, alloc), 100);
      }
      expected = ref1.finish();
      got = ch.finish();
    }
    assertSameResults(expected, got);
  }

  @Test
  void aNodeDyingMidPartitionCostsARetryNotARow() throws Exception {
    AcceleratorNodeServer dying = node(AcceleratorNodeServer.Options.loopback().withStopAfterBatches(3));
    AcceleratorNodeServer healthy = node(AcceleratorNodeServer.Options.loopback());
    FlightTransport t = transport(settings(BridgeSettings.Fallback.FAIL, dying, healthy));
    PartitionChannel ch = t.open(HANDLE, alloc);
    List<ScoredBatch> got = score(ch, 10, 200, 7);
    assertSameResults(inProcess(HANDLE, 10, 200, 7), got);
    assertEquals(3, dying.batchesAnswered());
    assertTrue(dying.stopped());
    assertTrue(ch.failovers() >= 1);
    assertEquals(List.of(dying.nodeId(), healthy.nodeId()), ch.nodeIds());
    // the dead node is kept out: the next partition goes straight to the healthy one
    PartitionChannel next = t.open(HANDLE, alloc);
    score(next, 2, 50, 1);
    assertEquals(List.of(healthy.nodeId()), next.nodeIds());
    assertEquals(0, next.failovers());
  }

  @Test
  void allNodesDownFallsBackInProcessOrFailsClearly() throws Exception {
    AcceleratorNodeServer a = node(AcceleratorNodeServer.Options.loopback());
    AcceleratorNodeServer b = node(AcceleratorNodeServer.Options.loopback());
    BridgeSettings both = settings(BridgeSettings.Fallback.IN_PROCESS, a, b);
    a.close();
    b.close();
    servers.clear();
    FlightTransport fallback = transport(both);
    PartitionChannel ch = fallback.open(HANDLE, alloc);
    List<ScoredBatch> got = score(ch, 4, 100, 3);
    assertSameResults(inProcess(HANDLE, 4, 100, 3), got);
    assertEquals(4, ch.fallbackBatches());
    assertEquals(List.of(InProcessAcceleratorNode.shared().nodeId()), ch.nodeIds());

    FlightTransport failing = transport(BridgeSettings.of(both.nodes(), BridgeSettings.Fallback.FAIL));
    NodeException e = assertThrows(NodeException.class, () -> score(failing.open(HANDLE, alloc), 2, 10, 3));
    assertTrue(e.getMessage().contains("bridge.fallback = fail"), e.getMessage());
    for (String n : both.nodes()) {
      assertTrue(e.getMessage().contains(n), "names every node tried: " + e.getMessage());
    }
    assertTrue(e.getMessage().contains("UNAVAILABLE"), e.getMessage());
  }

  @Test
  void tokenIsRequiredAndNeverShown(@TempDir Path dir) throws Exception {
    String token = "s3cret-" + Long.toHexString(RND.nextLong());
    AcceleratorNodeServer a = node(AcceleratorNodeServer.Options.loopback().withToken(token));
    BridgeSettings plain = settings(BridgeSettings.Fallback.IN_PROCESS, a);
    // no token: refused, and not hidden behind the in-process fallback
    NodeException none = assertThrows(NodeException.class, () -> score(transport(plain).open(HANDLE, alloc), 1, 10, 1));
    assertTrue(none.getMessage().contains("UNAUTHENTICATED"), none.getMessage());
    NodeException wrong = assertThrows(NodeException.class,
        () -> score(transport(plain.withToken("not-it")).open(HANDLE, alloc), 1, 10, 1));
    assertTrue(wrong.getMessage().contains("UNAUTHENTICATED"), wrong.getMessage());
    assertFalse(wrong.getMessage().contains("not-it"));

    BridgeSettings good = plain.withToken(token);
    assertFalse(good.toString().contains(token), "settings never print the token");
    assertSameResults(inProcess(HANDLE, 2, 30, 5), score(transport(good).open(HANDLE, alloc), 2, 30, 5));
    assertFalse(a.summaryLine().contains(token));
  }

  @Test
  void tlsWorksWithATrustedCertificateAndAPlainClientGetsAClearError(@TempDir Path dir) throws Exception {
    TestCertificates certs = TestCertificates.create(dir);
    AcceleratorNodeServer a = node(AcceleratorNodeServer.Options.loopback()
        .withTls(certs.cert().toFile(), certs.key().toFile()));
    BridgeSettings plain = settings(BridgeSettings.Fallback.FAIL, a);
    BridgeSettings tls = plain.withTls(Files.readAllBytes(certs.cert()));
    assertSameResults(inProcess(HANDLE, 3, 40, 9), score(transport(tls).open(HANDLE, alloc), 3, 40, 9));

    NodeException e = assertThrows(NodeException.class, () -> score(transport(plain).open(HANDLE, alloc), 1, 10, 1));
    assertTrue(e.getMessage().contains("the node speaks TLS"), e.getMessage());

    // and the other way round: a TLS client against a plain node
    AcceleratorNodeServer p = node(AcceleratorNodeServer.Options.loopback());
    BridgeSettings tlsToPlain = settings(BridgeSettings.Fallback.FAIL, p).withTls(Files.readAllBytes(certs.cert()));
    NodeException e2 = assertThrows(NodeException.class, () -> score(transport(tlsToPlain).open(HANDLE, alloc), 1, 10, 1));
    assertTrue(e2.getMessage().contains("TLS mismatch"), e2.getMessage());
  }

  @Test
  void oversizeBatchAndMismatchedBatchAreRefusedAndTheNodeKeepsServing() throws Exception {
    AcceleratorNodeServer a = node(AcceleratorNodeServer.Options.loopback().withLimits(64 << 10, 1 << 20));
    FlightTransport t = transport(settings(BridgeSettings.Fallback.IN_PROCESS, a));
    // 2000 int8 rows of 64 + 8 bytes: about 144 KB > 64 KiB
    NodeException big = assertThrows(NodeException.class, () -> score(t.open(HANDLE, alloc), 1, 2000, 1));
    assertTrue(big.getMessage().contains("max-batch-bytes") && big.getMessage().contains("65536"), big.getMessage());

    try (PartitionChannel ch = t.open(HANDLE, alloc)) {
      EncodedRows wrongDim = EncodedRows.encode(Precision.INT8, 5, 32, randomRows(5, 32, 1));
      ch.send(BridgeBatches.toRequest(wrongDim, alloc), 5);
      NodeException dim = assertThrows(NodeException.class, ch::finish);
      assertTrue(dim.getMessage().contains("dim 32"), dim.getMessage());
    }
    try (PartitionChannel ch = t.open(HANDLE, alloc)) {
      EncodedRows fp32 = EncodedRows.encode(Precision.FP32, 5, DIM, randomRows(5, DIM, 1));
      ch.send(BridgeBatches.toRequest(fp32, alloc), 5);
      NodeException prec = assertThrows(NodeException.class, ch::finish);
      assertTrue(prec.getMessage().contains("batch at fp32"), prec.getMessage());
    }
    assertSameResults(inProcess(HANDLE, 2, 100, 4), score(t.open(HANDLE, alloc), 2, 100, 4));
  }

  @Test
  void unknownAndMalformedKernelsAreRefusedAndTheNodeKeepsServing() throws Exception {
    AcceleratorNodeServer a = node(AcceleratorNodeServer.Options.loopback().withLimits(64 << 20, 1 << 20));
    try (FlightClient raw = FlightClient.builder(alloc, Location.forGrpcInsecure("127.0.0.1", a.port())).build()) {
      // unknown kernel: NOT_FOUND, which makes a client push it
      String unknown = "ab".repeat(32);
      FlightRuntimeException nf = assertThrows(FlightRuntimeException.class, () -> {
        try (FlightClient.ExchangeReaderWriter x = raw.doExchange(FlightProtocol.scoreExchange(unknown))) {
          x.getReader().next();
        }
      });
      assertEquals(FlightStatusCode.NOT_FOUND, nf.status().code());
      assertTrue(nf.getMessage().contains("push it first"), nf.getMessage());

      String id = KernelCodec.kernelId(LINEAR_BYTES);
      byte[] truncated = java.util.Arrays.copyOf(LINEAR_BYTES, LINEAR_BYTES.length / 2);
      assertRefused(raw, id, truncated, "not to the id");
      assertRefused(raw, KernelCodec.kernelId(truncated), truncated, "malformed kernel");
      byte[] inconsistent = linearPayload(5, new byte[10]); // 5 rows of 64 codes need 320 bytes
      assertRefused(raw, KernelCodec.kernelId(inconsistent), inconsistent, "malformed kernel");
      byte[] huge = new byte[(1 << 20) + 1];
      assertRefused(raw, KernelCodec.kernelId(huge), huge, "max-kernel-bytes");
      assertEquals(0, a.kernelsCached());
    }
    // a transport that lost the race with the cache (NOT_FOUND) pushes again and scores
    FlightTransport t = transport(settings(BridgeSettings.Fallback.FAIL, a));
    assertSameResults(inProcess(HANDLE, 2, 100, 8), score(t.open(HANDLE, alloc), 2, 100, 8));
    assertEquals(1, a.kernelsCached());
  }

  @Test
  void evictedKernelIsPushedAgain() throws Exception {
    // a cache that holds one kernel: pushing a second evicts the first
    AcceleratorNodeServer.Options o = AcceleratorNodeServer.Options.loopback();
    AcceleratorNodeServer a = node(new AcceleratorNodeServer.Options(o.host(), 0, null, null, null, null,
        o.maxBatchBytes(), o.kernelLimits(), LINEAR_BYTES.length + 100L, 0, null, -1, null, null));
    LinearKernel other = LinearKernel.fromWeights(randomMatrix(3, DIM), new float[3], List.of("x", "y", "z"),
        Activation.RAW, Precision.INT8);
    byte[] otherBytes = KernelCodec.encode(other);
    assertTrue(otherBytes.length > LINEAR_BYTES.length - 100 - 1000, "test needs kernels of similar size");
    FlightTransport t = transport(settings(BridgeSettings.Fallback.FAIL, a));
    score(t.open(HANDLE, alloc), 1, 10, 1);
    score(t.open(KernelHandle.of(otherBytes, other), alloc), 1, 10, 1);
    assertEquals(1, a.kernelsCached());
    // the transport believes node a has HANDLE; the node answers NOT_FOUND; the client pushes again
    assertSameResults(inProcess(HANDLE, 2, 20, 2), score(t.open(HANDLE, alloc), 2, 20, 2));
    assertEquals(3, a.kernelPushes());
  }

  static void assertRefused(FlightClient raw, String id, byte[] bytes, String expected) throws Exception {
    FlightRuntimeException e = assertThrows(FlightRuntimeException.class, () -> rawPush(raw, id, bytes));
    assertEquals(FlightStatusCode.INVALID_ARGUMENT, e.status().code(), e.toString());
    assertTrue(e.getMessage().contains(expected), e.getMessage());
  }

  static void rawPush(FlightClient raw, String id, byte[] bytes) throws Exception {
    try (BufferAllocator a = new RootAllocator()) {
      FlightProtocol.putKernel(raw, id, bytes, a, CallOptions.timeout(30, TimeUnit.SECONDS));
    }
  }

  /** A linear kernel's bytes with the given weight rows and codes blob, nothing else checked. */
  static byte[] linearPayload(int rows, byte[] codes) {
    KernelPayload p = new KernelPayload().meta("activation", "softmax").meta("w.precision", "int8")
        .meta("w.rows", rows).meta("w.dim", DIM);
    p.blobs().put("w.codes", codes);
    return KernelCodec.encode("linear", p);
  }

  @Test
  void aMeasuredNodeReturnsEachBatchsShareOfItsCounterWithTheIdleDrawApart() throws Exception {
    SteadyGpuCounter gpu = new SteadyGpuCounter(150);
    AcceleratorNodeServer n = node(AcceleratorNodeServer.Options.loopback()
        .withMeter(new NodeMeter(gpu, new IdlePower(Map.of("gpu", 100.0)), gpu)).withBackend(new MeteredCpuBackend()));
    FlightTransport t = transport(settings(BridgeSettings.Fallback.FAIL, n));
    // Two partitions stream to the node at once.
    ExecutorService pool = Executors.newFixedThreadPool(2);
    List<Future<List<ScoredBatch>>> parts = new ArrayList<>();
    for (int p = 0; p < 2; p++) {
      int seed = 1000 * p;
      parts.add(pool.submit(() -> score(t.open(HANDLE, alloc), 6, 500, seed)));
    }
    List<EnergyFigure> figures = new ArrayList<>();
    for (int p = 0; p < 2; p++) {
      List<ScoredBatch> got = parts.get(p).get(60, TimeUnit.SECONDS);
      assertSameResults(inProcess(HANDLE, 6, 500, 1000 * p), got);
      for (ScoredBatch b : got) {
        assertTrue(b.reading().measured(), "every batch measured: " + b.reading().nodeEnergy());
        figures.addAll(b.reading().nodeEnergy());
      }
    }
    pool.shutdown();
    double above = figures.stream().filter(f -> f.component().equals("gpu")).mapToDouble(EnergyFigure::joules).sum();
    double idle = figures.stream().filter(f -> f.component().equals("gpu_idle")).mapToDouble(EnergyFigure::joules).sum();
    assertTrue(figures.stream().filter(f -> f.component().startsWith("gpu"))
        .allMatch(f -> f.method() == EnergyMethod.MEASURED_NVML
            && List.of("exclusive", "rows_share", "unattributed").contains(f.attribution())), figures.toString());
    assertTrue(above + idle > 0 && above + idle <= gpu.joulesSoFar() + 1e-9,
        "the batches' figures are part of what the counter measured: " + (above + idle) + " of " + gpu.joulesSoFar());
    assertEquals(0.5, above / idle, 1e-6, "150 W measured against 100 W idle: a third above idle");
    try (FlightClient c = FlightClient.builder(alloc, Location.forGrpcInsecure("127.0.0.1", n.port())).build()) {
      Result r = c.doAction(new Action(FlightProtocol.HEALTH)).next();
      String health = new String(r.getBody(), java.nio.charset.StandardCharsets.UTF_8);
      assertTrue(health.contains("\"energy_measured\":true") && health.contains("100.0 W"), health);
    }
  }

  @Test
  void batchesScoredOnTheCpuCarryNoShareOfTheGpusCounter() throws Exception {
    SteadyGpuCounter gpu = new SteadyGpuCounter(150);
    AcceleratorNodeServer n = node(AcceleratorNodeServer.Options.loopback()
        .withMeter(new NodeMeter(gpu, new IdlePower(Map.of("gpu", 100.0)), gpu)));
    FlightTransport t = transport(settings(BridgeSettings.Fallback.FAIL, n));
    for (ScoredBatch b : score(t.open(HANDLE, alloc), 3, 200, 7)) {
      assertFalse(b.reading().measured(), "a CPU batch beside a measured GPU: " + b.reading().nodeEnergy());
    }
  }
}
