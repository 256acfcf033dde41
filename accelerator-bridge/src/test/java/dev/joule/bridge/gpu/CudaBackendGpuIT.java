package dev.joule.bridge.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.flight.AcceleratorNodeServer;
import dev.joule.bridge.flight.BridgeSettings;
import dev.joule.bridge.flight.FlightTransport;
import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.LinearKernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.kernel.WeightScaling;
import dev.joule.bridge.node.CpuBackend;
import dev.joule.bridge.node.InProcessAcceleratorNode;
import dev.joule.bridge.node.InProcessTransport;
import dev.joule.bridge.node.KernelHandle;
import dev.joule.bridge.node.PartitionChannel;
import dev.joule.bridge.node.ScoredBatch;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The GPU backend on a real GPU: the CPU kernel's answers (int8 to the bit, fp32 within float
 * summation order), from concurrent callers, and through a Flight node. Skipped, with the reason,
 * where the backend cannot open (no driver, no GPU, no NVRTC): run it on a GPU machine with
 * {@code bench/run-gpu.sh}.
 */
class CudaBackendGpuIT {

  static CudaBackend gpu;
  static String refusal;
  static final CpuBackend CPU = new CpuBackend(VectorOpsProvider.get());

  @BeforeAll
  static void open() {
    CudaBackend.Opening o = CudaBackend.open(new CudaBackend.Settings(0,
        CudaLibraries.fromPathList(System.getenv("JOULE_CUDA_LIB_DIR")), 4), VectorOpsProvider.get());
    gpu = o.backend();
    refusal = o.refusal();
  }

  @BeforeEach
  void needsAGpu() {
    assumeTrue(gpu != null, "no GPU backend here: " + refusal);
  }

  @AfterAll
  static void close() {
    if (gpu != null) {
      gpu.close();
    }
  }

  static LinearKernel head(SplittableRandom rnd, int classes, int dim, Precision p) {
    float[][] w = new float[classes][dim];
    float[] bias = new float[classes];
    List<String> labels = new ArrayList<>();
    for (int j = 0; j < classes; j++) {
      for (int i = 0; i < dim; i++) {
        w[j][i] = (float) (rnd.nextGaussian() / Math.sqrt(dim));
      }
      bias[j] = (float) rnd.nextGaussian();
      labels.add("c" + j);
    }
    return LinearKernel.fromWeights(w, bias, labels, Activation.SOFTMAX, p, WeightScaling.PER_CHANNEL);
  }

  static float[] rows(SplittableRandom rnd, int n, int dim) {
    float[] x = new float[n * dim];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    return x;
  }

  static float[] scores(dev.joule.bridge.node.ScoringBackend b, LinearKernel k, EncodedRows in) {
    KernelOutput out = k.newOutput();
    b.score(k, in, out);
    return Arrays.copyOf(out.scores(), in.rows() * k.width());
  }

  @Test
  void headsOnTheGpuGiveTheCpuKernelsAnswers() {
    SplittableRandom rnd = new SplittableRandom(1);
    for (int dim : new int[] {768, 383, 64}) {
      for (int classes : new int[] {10, 3, 33}) {
        for (int n : new int[] {1, 7, 8192, 20_001}) {
          float[] x = rows(rnd, n, dim);
          LinearKernel int8 = head(rnd, classes, dim, Precision.INT8);
          EncodedRows in8 = EncodedRows.encode(Precision.INT8, n, dim, x);
          assertArrayEquals(scores(CPU, int8, in8), scores(gpu, int8, in8),
              "int8 head on the GPU: the CPU's bits (dim " + dim + ", " + classes + " classes, " + n + " rows)");
          LinearKernel fp32 = head(rnd, classes, dim, Precision.FP32);
          EncodedRows in32 = EncodedRows.fp32(n, dim, x);
          float[] a = scores(CPU, fp32, in32);
          float[] b = scores(gpu, fp32, in32);
          for (int i = 0; i < a.length; i++) {
            assertEquals(a[i], b[i], 1e-5f * Math.max(1f, Math.abs(a[i])), "fp32 at " + i);
          }
        }
      }
    }
  }

  @Test
  void concurrentCallersGetTheirOwnAnswers() throws Exception {
    SplittableRandom rnd = new SplittableRandom(2);
    LinearKernel k = head(rnd, 10, 768, Precision.INT8);
    List<EncodedRows> batches = new ArrayList<>();
    for (int b = 0; b < 24; b++) {
      batches.add(EncodedRows.encode(Precision.INT8, 1000 + 500 * b, 768, rows(rnd, 1000 + 500 * b, 768)));
    }
    ExecutorService pool = Executors.newFixedThreadPool(8);
    List<Future<float[]>> got = new ArrayList<>();
    for (EncodedRows in : batches) {
      got.add(pool.submit(() -> scores(gpu, k, in)));
    }
    for (int b = 0; b < batches.size(); b++) {
      assertArrayEquals(scores(CPU, k, batches.get(b)), got.get(b).get(60, TimeUnit.SECONDS), "batch " + b);
    }
    pool.shutdown();
  }

  @Test
  void aFlightNodeOnTheGpuAnswersAsTheInProcessNode() throws Exception {
    SplittableRandom rnd = new SplittableRandom(3);
    LinearKernel k = head(rnd, 10, 256, Precision.INT8);
    KernelHandle handle = KernelHandle.of(KernelCodec.encode(k), k);
    try (BufferAllocator alloc = new RootAllocator();
        AcceleratorNodeServer node = AcceleratorNodeServer.start(AcceleratorNodeServer.Options.loopback()
            .withBackend(new GpuOnly(gpu)));
        FlightTransport t = new FlightTransport(BridgeSettings.of(List.of(node.address()), BridgeSettings.Fallback.FAIL))) {
      float[] x = rows(rnd, 3000, 256);
      List<ScoredBatch> remote = score(t.open(handle, alloc), x, alloc);
      List<ScoredBatch> local = score(new InProcessTransport(new InProcessAcceleratorNode("ref", VectorOpsProvider.get()))
          .open(handle, alloc), x, alloc);
      for (int i = 0; i < local.size(); i++) {
        assertArrayEquals(local.get(i).scores(), remote.get(i).scores(), "batch " + i);
        assertEquals(gpu.name(), remote.get(i).reading().vectorOps());
      }
    }
  }

  static List<ScoredBatch> score(PartitionChannel ch, float[] x, BufferAllocator alloc) {
    try (ch) {
      for (int b = 0; b < 3; b++) {
        EncodedRows er = EncodedRows.encode(Precision.INT8, 1000, 256, Arrays.copyOfRange(x, b * 256_000, (b + 1) * 256_000));
        ch.send(BridgeBatches.toRequest(er, alloc), 1000);
      }
      return ch.finish();
    }
  }

  /** The backend, left open when the node closes it (the test class closes it once). */
  record GpuOnly(CudaBackend b) implements dev.joule.bridge.node.ScoringBackend {
    @Override
    public String name() {
      return b.name();
    }

    @Override
    public String declines(dev.joule.bridge.kernel.Kernel k, Precision rows) {
      return b.declines(k, rows);
    }

    @Override
    public boolean onMeteredDevice() {
      return true;
    }

    @Override
    public void score(dev.joule.bridge.kernel.Kernel k, EncodedRows rows, KernelOutput out) {
      b.score(k, rows, out);
    }
  }
}
