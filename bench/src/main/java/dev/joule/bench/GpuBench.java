package dev.joule.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.meter.EnergyLedger;
import dev.joule.bridge.energy.meter.IdlePower;
import dev.joule.bridge.energy.meter.NvmlMeter;
import dev.joule.bridge.flight.AcceleratorNodeServer;
import dev.joule.bridge.flight.BridgeSettings;
import dev.joule.bridge.flight.FlightTransport;
import dev.joule.bridge.gpu.CudaBackend;
import dev.joule.bridge.gpu.CudaLibraries;
import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.LinearKernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.kernel.WeightScaling;
import dev.joule.bridge.node.CpuBackend;
import dev.joule.bridge.node.KernelHandle;
import dev.joule.bridge.node.NodeMeter;
import dev.joule.bridge.node.PartitionChannel;
import dev.joule.bridge.node.ScoredBatch;
import dev.joule.bridge.node.ScoringBackend;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * The GPU node's benchmark (issue 22), for a machine with an NVIDIA GPU: a 10-class softmax head
 * over 768-d rows, scored (1) by the GPU backend from host batches (page-locked copies, dots on
 * the GPU, the kernel's epilogue on the host) at int8 and fp32, (2) by the node's CPU backend on
 * the same machine, (3) end to end through a Flight node on the GPU with clients on the same
 * machine's CPUs, and beside them (4) PyTorch doing the same work on the same rows
 * ({@code bench/gpu/torch_peer.py}, its JSON passed with {@code --peer}). Energy is NVML's board
 * counter read around each steady window, with the idle draw measured first and given apart;
 * the Flight run also sums the node's own per-batch figures. Checks first that the GPU's int8
 * answers are the CPU kernel's bits.
 *
 * <p>Run by {@code bench/run-gpu.sh} on the GPU machine; {@code --write-rows FILE} writes the rows
 * and the head for the PyTorch peer and exits.
 */
public final class GpuBench {

  private GpuBench() {}

  record Settings(int rows, int dim, int classes, int batchRows, double seconds, int threads, Path peer,
      Path writeRows, String cudaLibDirs, double idleSeconds, Path out) {}

  record Result(String variant, long rows, double seconds, Double joules, Double joulesAboveIdle, String note) {
    double rowsPerSecond() {
      return rows / seconds;
    }

    Double perMillion(Double j) {
      return j == null ? null : j / rows * 1e6;
    }
  }

  public static void main(String[] args) throws Exception {
    Settings s = parse(args);
    SplittableRandom rnd = new SplittableRandom(22);
    float[] x = new float[Math.multiplyExact(s.rows(), s.dim())];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    float[][] w = new float[s.classes()][s.dim()];
    float[] bias = new float[s.classes()];
    List<String> labels = new ArrayList<>();
    for (int j = 0; j < s.classes(); j++) {
      for (int i = 0; i < s.dim(); i++) {
        w[j][i] = (float) (rnd.nextGaussian() / Math.sqrt(s.dim()));
      }
      bias[j] = (float) rnd.nextGaussian();
      labels.add("c" + j);
    }
    if (s.writeRows() != null) {
      writeRows(s, x, w, bias);
      return;
    }
    LinearKernel int8 = LinearKernel.fromWeights(w, bias, labels, Activation.SOFTMAX, Precision.INT8, WeightScaling.PER_CHANNEL);
    LinearKernel fp32 = LinearKernel.fromWeights(w, bias, labels, Activation.SOFTMAX, Precision.FP32, WeightScaling.PER_CHANNEL);
    List<EncodedRows> rows8 = new ArrayList<>();
    List<EncodedRows> rows32 = new ArrayList<>();
    for (int off = 0; off < s.rows(); off += s.batchRows()) {
      int n = Math.min(s.batchRows(), s.rows() - off);
      float[] part = Arrays.copyOfRange(x, off * s.dim(), (off + n) * s.dim());
      rows8.add(EncodedRows.encode(Precision.INT8, n, s.dim(), part));
      rows32.add(EncodedRows.fp32(n, s.dim(), part));
    }

    CudaBackend.Settings cs = new CudaBackend.Settings(0,
        CudaLibraries.fromPathList(s.cudaLibDirs()), s.threads());
    CudaBackend.Opening opening = CudaBackend.open(cs, VectorOpsProvider.get());
    if (opening.backend() == null) {
      System.out.println("GPU bench: no GPU backend: " + opening.refusal());
      System.exit(3);
    }
    CudaBackend gpu = opening.backend();
    CpuBackend cpu = new CpuBackend(VectorOpsProvider.get());
    NvmlMeter nvml = NvmlMeter.open(gpu.pciBusId());
    // The idle draw first, after a pause, as the PyTorch peer measures it: before any work.
    IdlePower idle = IdlePower.NONE;
    if (nvml.available() && s.idleSeconds() > 0) {
      Thread.sleep(2_000);
      idle = IdlePower.measure(nvml, (long) (s.idleSeconds() * 1e9), System::nanoTime, n -> Thread.sleep(n / 1_000_000));
    }
    System.out.printf(Locale.ROOT, "GPU bench: %,d rows x %d, %d-class softmax head, batches of %,d; backend %s; %s; "
        + "host %d CPUs%n", s.rows(), s.dim(), s.classes(), s.batchRows(), gpu.name(), nvml.describe(),
        Runtime.getRuntime().availableProcessors());

    // Correctness before speed: int8 to the bit, fp32 within summation order.
    int checked = 0;
    double fp32Diff = 0;
    for (int b = 0; b < Math.min(rows8.size(), 16); b++) {
      if (!Arrays.equals(scores(cpu, int8, rows8.get(b)), scores(gpu, int8, rows8.get(b)))) {
        System.out.println("GPU bench: FAILED: the GPU's int8 answers differ from the CPU kernel's in batch " + b);
        System.exit(4);
      }
      float[] a = scores(cpu, fp32, rows32.get(b));
      float[] g = scores(gpu, fp32, rows32.get(b));
      for (int i = 0; i < a.length; i++) {
        fp32Diff = Math.max(fp32Diff, Math.abs(a[i] - g[i]));
      }
      checked += rows8.get(b).rows();
    }
    System.out.printf(Locale.ROOT, "checked: int8 answers identical to the CPU kernel's on %,d rows; fp32 probabilities "
        + "within %.2e%n", checked, fp32Diff);

    System.out.println("idle: " + idle.describe());
    List<Result> results = new ArrayList<>();
    results.add(window("Joule GPU backend, int8 head, from host batches", gpu, int8, rows8, s.threads(), s.seconds(), nvml, idle));
    results.add(window("Joule GPU backend, fp32 head, from host batches", gpu, fp32, rows32, s.threads(), s.seconds(), nvml, idle));
    int cores = Runtime.getRuntime().availableProcessors();
    results.add(window("Joule CPU backend, int8 head, " + cores + " threads (GPU idle; NVML counts the GPU only)",
        cpu, int8, rows8, cores, s.seconds(), nvml, idle));
    results.add(flight(s, int8, rows8, nvml, idle, cs));
    gpu.close();

    JsonNode peer = null;
    if (s.peer() != null && Files.exists(s.peer())) {
      try {
        peer = new ObjectMapper().readTree(s.peer().toFile());
      } catch (java.io.IOException e) {
        System.out.println("the PyTorch peer's output is not JSON (" + e.getMessage() + "); its rows are left out");
      }
    }
    String table = table(s, results, peer, idle, fp32Diff, checked, gpu.name(), nvml.describe());
    System.out.println(table);
    if (s.out() != null) {
      Files.createDirectories(s.out().toAbsolutePath().getParent());
      Files.writeString(s.out(), table);
    }
  }

  static float[] scores(ScoringBackend b, LinearKernel k, EncodedRows in) {
    KernelOutput out = k.newOutput();
    b.score(k, in, out);
    return Arrays.copyOf(out.scores(), in.rows() * k.width());
  }

  /** {@code threads} callers score the batches round robin until {@code seconds} have passed (at least one pass). */
  static Result window(String variant, ScoringBackend b, LinearKernel k, List<EncodedRows> batches, int threads,
      double seconds, NvmlMeter nvml, IdlePower idle) throws Exception {
    for (int i = 0; i < Math.min(batches.size(), 2 * threads); i++) {
      scores(b, k, batches.get(i)); // warm: weights uploaded, code compiled
    }
    AtomicLong rows = new AtomicLong();
    long deadline = System.nanoTime() + (long) (seconds * 1e9);
    Window win = run(threads, nvml, first -> {
      KernelOutput out = k.newOutput();
      int i = first;
      do {
        EncodedRows in = batches.get(i % batches.size());
        b.score(k, in, out);
        rows.addAndGet(in.rows());
        i += threads;
      } while (System.nanoTime() < deadline || i < batches.size());
    });
    return new Result(variant, rows.get(), win.seconds(), win.joules(), win.aboveIdle(idle), "");
  }

  /** One caller's share of a window: {@code first} is its index among the callers. */
  interface Worker {
    void run(int first) throws Exception;
  }

  /** A window's wall time and the GPU board's energy over it (null where NVML cannot be read). */
  record Window(double seconds, Double joules) {
    Double aboveIdle(IdlePower idle) {
      return joules == null ? null : Math.max(0, joules - idle.watts("gpu") * seconds);
    }
  }

  static Window run(int threads, NvmlMeter nvml, Worker worker) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      Double j0 = nvml.available() ? nvml.readJoules().get("gpu") : null;
      long t0 = System.nanoTime();
      List<Future<?>> f = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int first = t;
        f.add(pool.submit(() -> {
          worker.run(first);
          return null;
        }));
      }
      for (Future<?> x : f) {
        x.get();
      }
      double wall = (System.nanoTime() - t0) / 1e9;
      return new Window(wall, j0 == null ? null : nvml.readJoules().get("gpu") - j0);
    } finally {
      pool.shutdown();
    }
  }

  /** Clients on this machine's CPUs stream int8 batches to a Flight node that scores them on the GPU. */
  static Result flight(Settings s, LinearKernel k, List<EncodedRows> batches, NvmlMeter nvml, IdlePower idle,
      CudaBackend.Settings cs) throws Exception {
    CudaBackend nodeGpu = CudaBackend.open(cs, VectorOpsProvider.get()).backend();
    if (nodeGpu == null) {
      return new Result("Joule Flight node on the GPU: the node's backend did not open", 0, 1, null, null, "");
    }
    AcceleratorNodeServer.Options o = AcceleratorNodeServer.Options.loopback().withBackend(nodeGpu);
    if (nvml.available()) {
      o = o.withMeter(new NodeMeter(nvml, idle, EnergyLedger.CpuClock.jvm()));
    }
    KernelHandle handle = KernelHandle.of(KernelCodec.encode(k), k);
    int partitions = s.threads();
    try (AcceleratorNodeServer node = AcceleratorNodeServer.start(o);
        BufferAllocator alloc = new RootAllocator();
        FlightTransport t = new FlightTransport(BridgeSettings.of(List.of(node.address()), BridgeSettings.Fallback.FAIL))) {
      stream(t, handle, batches.subList(0, Math.min(2, batches.size())), alloc); // warm
      AtomicLong rows = new AtomicLong();
      List<EnergyFigure> figures = java.util.Collections.synchronizedList(new ArrayList<>());
      long deadline = System.nanoTime() + (long) (s.seconds() * 1e9);
      Window win = run(partitions, nvml, first -> {
        try (BufferAllocator a = alloc.newChildAllocator("partition-" + first, 0, Long.MAX_VALUE)) {
          List<EncodedRows> mine = new ArrayList<>();
          for (int i = first; i < batches.size(); i += partitions) {
            mine.add(batches.get(i));
          }
          do {
            for (ScoredBatch b : stream(t, handle, mine, a)) {
              rows.addAndGet(b.rows());
              figures.addAll(b.reading().nodeEnergy());
            }
          } while (System.nanoTime() < deadline);
        }
      });
      double attributed = figures.stream().filter(e -> e.component().startsWith("gpu")).mapToDouble(EnergyFigure::joules).sum();
      return new Result("Joule Flight node on the GPU, " + partitions + " client partitions on this machine, int8, "
          + "Arrow IPC over loopback gRPC", rows.get(), win.seconds(), win.joules(), win.aboveIdle(idle),
          win.joules() == null ? "" : String.format(Locale.ROOT,
              "the node's per-batch figures sum to %.1f J of the %.1f J NVML counted", attributed, win.joules()));
    }
  }

  static List<ScoredBatch> stream(FlightTransport t, KernelHandle handle, List<EncodedRows> batches, BufferAllocator a) {
    try (PartitionChannel ch = t.open(handle, a)) {
      for (EncodedRows er : batches) {
        ch.send(BridgeBatches.toRequest(er, a), er.rows());
      }
      return ch.finish();
    }
  }

  /** Raw little-endian float32: rows [n × dim], weights [classes × dim], bias [classes]; the peer reads it. */
  static void writeRows(Settings s, float[] x, float[][] w, float[] bias) throws Exception {
    try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(s.writeRows()), 1 << 20))) {
      ByteBuffer buf = ByteBuffer.allocate(4 * s.dim()).order(ByteOrder.LITTLE_ENDIAN);
      for (int r = 0; r < s.rows(); r++) {
        buf.clear();
        buf.asFloatBuffer().put(x, r * s.dim(), s.dim());
        out.write(buf.array());
      }
      for (float[] row : w) {
        buf.clear();
        buf.asFloatBuffer().put(row);
        out.write(buf.array());
      }
      ByteBuffer b = ByteBuffer.allocate(4 * bias.length).order(ByteOrder.LITTLE_ENDIAN);
      b.asFloatBuffer().put(bias);
      out.write(b.array());
    }
    System.out.printf(Locale.ROOT, "wrote %,d x %d rows, a %d-class head to %s%n", s.rows(), s.dim(), s.classes(), s.writeRows());
  }

  static String num(Double v, String fmt) {
    return v == null ? "not measured" : String.format(Locale.ROOT, fmt, v);
  }

  static String table(Settings s, List<Result> results, JsonNode peer, IdlePower idle, double fp32Diff, int checked,
      String gpuName, String meter) {
    StringBuilder t = new StringBuilder();
    t.append(String.format(Locale.ROOT, "%n%,d rows x %d, %d-class softmax head, batches of %,d, %s; energy: %s; idle %s.%n"
        + "int8 answers identical to the CPU kernel's on %,d rows; fp32 probabilities within %.2e.%n%n",
        s.rows(), s.dim(), s.classes(), s.batchRows(), gpuName, meter, idle.describe(), checked, fp32Diff));
    t.append("| variant | rows/s | J per 1M rows, board (measured_nvml) | above idle | note |\n");
    t.append("| --- | --- | --- | --- | --- |\n");
    for (Result r : results) {
      t.append(String.format(Locale.ROOT, "| %s | %,.0f | %s | %s | %s |%n", r.variant(), r.rowsPerSecond(),
          num(r.perMillion(r.joules()), "%.2f"), num(r.perMillion(r.joulesAboveIdle()), "%.2f"), r.note()));
    }
    if (peer != null) {
      peer.fields().forEachRemaining(e -> {
        JsonNode p = e.getValue();
        if (p.has("rows_per_s")) {
          t.append(String.format(Locale.ROOT, "| PyTorch %s: %s | %,.0f | %s | %s | %s |%n", p.path("torch").asText("?"),
              e.getKey(), p.get("rows_per_s").asDouble(), p.has("j_per_1m") ? String.format(Locale.ROOT, "%.2f", p.get("j_per_1m").asDouble()) : "not measured",
              p.has("j_per_1m_above_idle") ? String.format(Locale.ROOT, "%.2f", p.get("j_per_1m_above_idle").asDouble()) : "not measured",
              p.path("note").asText("")));
        }
      });
      t.append('\n');
      ratio(t, "int8", results.get(0), peer.get("int8"));
      ratio(t, "fp32", results.get(1), peer.get("fp32"));
    } else {
      t.append("\nno PyTorch peer in this run (--peer FILE from bench/gpu/torch_peer.py)\n");
    }
    return t.toString();
  }

  static void ratio(StringBuilder t, String what, Result joule, JsonNode peer) {
    if (peer == null || !peer.has("rows_per_s")) {
      t.append("- ").append(what).append(": no PyTorch figure\n");
      return;
    }
    t.append(String.format(Locale.ROOT, "- %s head: Joule's GPU backend %.2f× PyTorch's rows/s (target ≥ 0.5×)", what,
        joule.rowsPerSecond() / peer.get("rows_per_s").asDouble()));
    if (joule.joules() != null && peer.has("j_per_1m")) {
      t.append(String.format(Locale.ROOT, "; measured board J per 1M rows %.2f× PyTorch's (both measured_nvml, same GPU, same run)",
          joule.perMillion(joule.joules()) / peer.get("j_per_1m").asDouble()));
    }
    t.append('\n');
  }

  static Settings parse(String[] args) {
    int rows = 2_000_000;
    int dim = 768;
    int classes = 10;
    int batchRows = 8192;
    double seconds = 3;
    int threads = 4;
    Path peer = null;
    Path write = null;
    String cuda = System.getenv("JOULE_CUDA_LIB_DIR");
    double idle = 3;
    Path out = Path.of("bench/target/gpu-bench.md");
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--rows" -> rows = Integer.parseInt(args[++i]);
        case "--dim" -> dim = Integer.parseInt(args[++i]);
        case "--classes" -> classes = Integer.parseInt(args[++i]);
        case "--batch-rows" -> batchRows = Integer.parseInt(args[++i]);
        case "--seconds" -> seconds = Double.parseDouble(args[++i]);
        case "--threads" -> threads = Integer.parseInt(args[++i]);
        case "--peer" -> peer = Path.of(args[++i]);
        case "--write-rows" -> write = Path.of(args[++i]);
        case "--cuda-lib-dir" -> cuda = args[++i];
        case "--idle-seconds" -> idle = Double.parseDouble(args[++i]);
        case "--out" -> out = Path.of(args[++i]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    return new Settings(rows, dim, classes, batchRows, seconds, threads, peer, write, cuda, idle, out);
  }
}
