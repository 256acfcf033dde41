package dev.joule.bench;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.flight.AcceleratorNodeServer;
import dev.joule.bridge.flight.BridgeSettings;
import dev.joule.bridge.flight.FlightTransport;
import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.kernel.LinearKernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.node.InProcessAcceleratorNode;
import dev.joule.bridge.node.InProcessTransport;
import dev.joule.bridge.node.KernelHandle;
import dev.joule.bridge.node.NodeTransport;
import dev.joule.bridge.node.PartitionChannel;
import dev.joule.bridge.node.ScoredBatch;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * The bridge benchmark: the same int8 batches (default 100,000 × 768 rows, a 10-class int8 head)
 * scored through a Flight node on loopback and through the in-process node, alternating rounds in
 * one run. Both sides build the same Arrow request batches from the same encoded rows, so the
 * difference is the transport: Arrow IPC over gRPC on 127.0.0.1 and a second thread (the node's)
 * against a call on the partition's own thread. Prints rows/s per round, the medians and their
 * ratio (goal: remote ≥ 0.8 × in-process).
 *
 * <p>Usage: {@code bench/run-flight.sh [--rows N] [--dim D] [--batch-rows B] [--rounds R]
 * [--node host:port]} (an external node started with {@code joule accel-node}; default: a node in
 * this JVM on an ephemeral loopback port).
 */
public final class FlightBench {

  private FlightBench() {}

  public static void main(String[] args) throws Exception {
    int rows = 100_000;
    int dim = 768;
    int batchRows = 8192;
    int rounds = 5;
    String external = null;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--rows" -> rows = Integer.parseInt(args[++i]);
        case "--dim" -> dim = Integer.parseInt(args[++i]);
        case "--batch-rows" -> batchRows = Integer.parseInt(args[++i]);
        case "--rounds" -> rounds = Integer.parseInt(args[++i]);
        case "--node" -> external = args[++i];
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    Random rnd = new Random(1);
    float[][] w = new float[10][dim];
    for (float[] r : w) {
      for (int i = 0; i < dim; i++) {
        r[i] = (float) rnd.nextGaussian();
      }
    }
    List<String> labels = List.of("c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9");
    LinearKernel kernel = LinearKernel.fromWeights(w, new float[10], labels, Activation.SOFTMAX, Precision.INT8);
    KernelHandle handle = KernelHandle.of(KernelCodec.encode(kernel), kernel);
    List<EncodedRows> batches = new ArrayList<>();
    for (int off = 0; off < rows; off += batchRows) {
      int n = Math.min(batchRows, rows - off);
      batches.add(Rows.make(Precision.INT8, n, dim, off));
    }
    System.out.printf(Locale.ROOT, "bridge benchmark: %,d int8 rows x %d dims (%,d bytes of codes), %d batches of <= %,d rows, "
        + "10-class int8 head, vector ops %s, %d vCPUs%n", rows, dim, (long) rows * dim, batches.size(), batchRows,
        VectorOpsProvider.get().name(), Runtime.getRuntime().availableProcessors());

    AcceleratorNodeServer server = null;
    String address = external;
    if (address == null) {
      server = AcceleratorNodeServer.start(AcceleratorNodeServer.Options.loopback());
      address = server.address();
    }
    System.out.println("remote node: " + address + (server == null ? " (external process)" : " (this JVM, over loopback TCP)"));
    try (BufferAllocator alloc = new RootAllocator();
        FlightTransport remote = new FlightTransport(BridgeSettings.of(List.of(address), BridgeSettings.Fallback.FAIL))) {
      NodeTransport local = new InProcessTransport(new InProcessAcceleratorNode("in-process", VectorOpsProvider.get()));
      int[] expected = labels(run(local, handle, batches, alloc));
      if (!Arrays.equals(expected, labels(run(remote, handle, batches, alloc)))) {
        throw new IllegalStateException("remote and in-process labels differ");
      }
      System.out.println("warm-up done; remote labels equal in-process labels for every row");
      double[] inProc = new double[rounds];
      double[] flight = new double[rounds];
      double[] inProcCpu = new double[rounds];
      double[] flightCpu = new double[rounds];
      System.out.println();
      System.out.println("| round | in-process rows/s | remote rows/s | remote / in-process | process CPU s in-process | process CPU s remote |");
      System.out.println("| --- | --- | --- | --- | --- | --- |");
      for (int r = 0; r < rounds; r++) {
        long c0 = processCpuNanos();
        inProc[r] = rowsPerSecond(local, handle, batches, alloc, rows);
        long c1 = processCpuNanos();
        flight[r] = rowsPerSecond(remote, handle, batches, alloc, rows);
        long c2 = processCpuNanos();
        inProcCpu[r] = (c1 - c0) / 1e9;
        flightCpu[r] = (c2 - c1) / 1e9;
        System.out.printf(Locale.ROOT, "| %d | %,.0f | %,.0f | %.2f | %.3f | %.3f |%n", r + 1, inProc[r], flight[r],
            flight[r] / inProc[r], inProcCpu[r], flightCpu[r]);
      }
      double mi = median(inProc);
      double mf = median(flight);
      System.out.printf(Locale.ROOT, "| median | %,.0f | %,.0f | **%.2f** | %.3f | %.3f |%n", mi, mf, mf / mi,
          median(inProcCpu), median(flightCpu));
      System.out.printf(Locale.ROOT, "%nprocess CPU per round, remote / in-process = %.2f (client and node share this JVM and its 2 vCPUs)%n",
          median(flightCpu) / median(inProcCpu));
      System.out.printf(Locale.ROOT, "%nremote / in-process = %.2f (goal >= 0.80: %s); same JVM, same batches, same run%n",
          mf / mi, mf / mi >= 0.8 ? "met" : "NOT met");
      if (alloc.getAllocatedMemory() != 0 || remote.allocatedBytes() != 0) {
        throw new IllegalStateException("buffers leaked");
      }
    } finally {
      if (server != null) {
        server.close();
      }
    }
  }

  static List<ScoredBatch> run(NodeTransport t, KernelHandle k, List<EncodedRows> batches, BufferAllocator alloc) {
    try (PartitionChannel ch = t.open(k, alloc)) {
      for (EncodedRows b : batches) {
        ch.send(BridgeBatches.toRequest(b, alloc), b.rows());
      }
      return ch.finish();
    }
  }

  static double rowsPerSecond(NodeTransport t, KernelHandle k, List<EncodedRows> batches, BufferAllocator alloc, int rows) {
    long t0 = System.nanoTime();
    List<ScoredBatch> out = run(t, k, batches, alloc);
    long ns = System.nanoTime() - t0;
    if (out.stream().mapToInt(ScoredBatch::rows).sum() != rows) {
      throw new IllegalStateException("rows lost");
    }
    return rows / (ns / 1e9);
  }

  static int[] labels(List<ScoredBatch> out) {
    return out.stream().flatMapToInt(b -> Arrays.stream(b.labels())).toArray();
  }

  static long processCpuNanos() {
    return java.lang.management.ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os ? os.getProcessCpuTime() : 0;
  }

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }
}
