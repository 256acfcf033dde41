package dev.joule.bridge.gpu;

import com.sun.jna.Pointer;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.LinearKernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.node.ScoringBackend;
import dev.joule.bridge.vector.VectorOps;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Classifier heads on an NVIDIA GPU: per-channel int8 heads on int8 rows and fp32 heads on fp32
 * rows (softmax, logistic or raw; any class count). A batch's rows are copied into page-locked
 * memory, sent to the GPU on one of a few streams (so the copies of concurrent batches overlap
 * with each other's compute), dotted with the head's weights there ({@link HeadDotsProgram}), and
 * the dots come back for the kernel's own epilogue ({@link LinearKernel#scoreFromDots}). Other
 * kernels (MLP heads, top-k, centroids, int4, column-channel or near-tie heads) are declined: the
 * node runs them on its CPU and says so once. A head's weights are uploaded on its first batch
 * and kept while the kernel is among the most recently used.
 */
public final class CudaBackend implements ScoringBackend {

  /** How the backend opens: which GPU, where NVRTC is, how many batches may be on the GPU at once. */
  public record Settings(int gpu, CudaLibraries libraries, int lanes) {
    public Settings {
      if (lanes < 1) {
        throw new IllegalArgumentException("lanes must be at least 1, got " + lanes);
      }
    }

    public static Settings defaults() {
      return new Settings(0, new CudaLibraries(java.util.List.of()), 4);
    }
  }

  /** The backend, or why there is none on this machine. */
  public record Opening(CudaBackend backend, String refusal) {}

  static final int MAX_KERNELS = 64;
  /** The most GPU memory heads' weights may hold at once, besides {@link #MAX_KERNELS}. */
  static final long MAX_WEIGHT_BYTES = 1L << 30;

  private final CudaDevice device;
  private final Pointer headI8;
  private final Pointer headF32;
  private final VectorOps epilogue;
  private final BlockingQueue<Lane> lanes;
  // Keyed by kernel identity, held weakly: a kernel the node's cache dropped frees its weights
  // here too. Least recently used first.
  private final Map<KernelKey, DeviceWeights> weights = new LinkedHashMap<>(16, 0.75f, true);
  private final ReferenceQueue<Kernel> collected = new ReferenceQueue<>();
  private long weightBytes;
  // Batches hold the read lock while on the GPU; freeing weights and closing take the write lock.
  private final ReentrantReadWriteLock gpuLock = new ReentrantReadWriteLock();
  private boolean closed;
  private final String name;

  private CudaBackend(CudaDevice device, Pointer headI8, Pointer headF32, int lanes, VectorOps epilogue) {
    this.device = device;
    this.headI8 = headI8;
    this.headF32 = headF32;
    this.epilogue = epilogue;
    this.lanes = new ArrayBlockingQueue<>(lanes);
    for (int i = 0; i < lanes; i++) {
      this.lanes.add(new Lane());
    }
    this.name = "cuda " + device.name() + " (sm_" + device.computeCapability() + ", driver " + device.driverVersion() + ")";
  }

  /**
   * Opens the GPU, or says why not: no driver, no GPU, no NVRTC, a compile or load failure.
   *
   * @param epilogue the CPU's vector ops, for the heads' scales, bias and activation
   */
  public static Opening open(Settings settings, VectorOps epilogue) {
    CudaDriver cu;
    try {
      cu = settings.libraries().driver();
    } catch (UnsatisfiedLinkError e) {
      return new Opening(null, "no NVIDIA driver: libcuda.so.1 not found");
    }
    return open(cu, settings, epilogue);
  }

  /** As above, with the driver bound already (tests bind a stand-in). */
  static Opening open(CudaDriver cu, Settings settings, VectorOps epilogue) {
    CudaDevice device;
    try {
      device = CudaDevice.open(cu, settings.gpu());
    } catch (CudaException | LinkageError e) {
      return new Opening(null, "the CUDA driver cannot open GPU " + settings.gpu() + ": " + e.getMessage());
    }
    try {
      Nvrtc nvrtc = settings.libraries().nvrtc(device.driverMajor());
      byte[] ptx = HeadDotsProgram.compile(nvrtc, device.computeCapability());
      device.makeCurrent();
      Pointer[] f = device.load(ptx, HeadDotsProgram.INT8, HeadDotsProgram.FP32);
      return new Opening(new CudaBackend(device, f[0], f[1], settings.lanes(), epilogue), null);
    } catch (CudaException | LinkageError e) {
      device.close();
      return new Opening(null, device.name() + ": " + e.getMessage());
    }
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public String declines(Kernel kernel, Precision rows) {
    if (!(kernel instanceof LinearKernel head)) {
      return kernel.op() + " kernels have no GPU implementation yet (classifier heads only)";
    }
    return head.externalDotsRefusal(rows);
  }

  @Override
  public boolean onMeteredDevice() {
    return true;
  }

  /** The GPU's PCI bus id, for NVML to measure this GPU and no other. */
  public String pciBusId() {
    return device.pciBusId();
  }

  @Override
  public void score(Kernel kernel, EncodedRows rows, KernelOutput out) {
    String declined = declines(kernel, rows.precision());
    if (declined != null) {
      throw new IllegalArgumentException("kernel " + kernel.displayName() + " does not run on " + name + ": " + declined);
    }
    LinearKernel head = (LinearKernel) kernel;
    float[] dots = dots(head, rows);
    head.scoreFromDots(rows, dots, out, epilogue);
  }

  /** Every row's dot with every weight row, on the GPU. */
  float[] dots(LinearKernel head, EncodedRows rows) {
    int n = rows.rows();
    int classes = head.width();
    float[] dots = new float[n * classes];
    if (n == 0) {
      return dots;
    }
    boolean int8 = rows.precision() == Precision.INT8;
    long inBytes = int8 ? (long) n * rows.dim() : 4L * n * rows.dim();
    long outBytes = 4L * n * classes;
    gpuLock.readLock().lock();
    try {
      if (closed) {
        throw new IllegalStateException(name + " is closed");
      }
      Lane lane = takeLane();
      try {
        device.makeCurrent();
        long w = weightsOf(head);
        lane.fit(inBytes, outBytes);
        if (int8) {
          lane.in.host.write(0, rows.codes(), 0, (int) inBytes);
        } else {
          lane.in.host.write(0, rows.values(), 0, (int) (inBytes / 4));
        }
        device.copyIn(lane.in.device, lane.in.host, inBytes, lane.stream);
        int blocks = (n + HeadDotsProgram.ROWS_PER_BLOCK - 1) / HeadDotsProgram.ROWS_PER_BLOCK;
        device.launch(int8 ? headI8 : headF32, blocks, HeadDotsProgram.THREADS_PER_BLOCK, lane.stream,
            lane.in.device, n, rows.dim(), w, classes, lane.out.device);
        device.copyOut(lane.out.host, lane.out.device, outBytes, lane.stream);
        device.synchronize(lane.stream);
        if (int8) {
          int[] exact = lane.out.host.getIntArray(0, n * classes);
          for (int i = 0; i < exact.length; i++) {
            dots[i] = exact[i]; // the int dot as a float, as Dots.dot's int × float does
          }
        } else {
          lane.out.host.read(0, dots, 0, n * classes);
        }
      } finally {
        lanes.add(lane);
      }
    } finally {
      gpuLock.readLock().unlock();
    }
    evictIfNeeded();
    return dots;
  }

  private Lane takeLane() {
    try {
      return lanes.take();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted waiting for a GPU stream", e);
    }
  }

  /** The head's weights on the GPU, uploaded on first use (by a batch holding the read lock). */
  private long weightsOf(LinearKernel head) {
    synchronized (weights) {
      KernelKey key = new KernelKey(head, null);
      DeviceWeights d = weights.get(key);
      if (d != null) {
        return d.pointer;
      }
      EncodedRows w = head.weights();
      long bytes = w.precision() == Precision.INT8 ? w.codes().length : 4L * w.values().length;
      long p = device.alloc(bytes);
      if (w.precision() == Precision.INT8) {
        device.upload(p, w.codes());
      } else {
        device.upload(p, w.values());
      }
      weights.put(new KernelKey(head, collected), new DeviceWeights(p, bytes));
      weightBytes += bytes;
      return p;
    }
  }

  /**
   * Frees the weights of kernels the JVM dropped, then the least recently used ones past
   * {@link #MAX_KERNELS} or {@link #MAX_WEIGHT_BYTES}, once no batch is on the GPU.
   */
  private void evictIfNeeded() {
    synchronized (weights) {
      if (collected.poll() == null && weights.size() <= MAX_KERNELS && weightBytes <= MAX_WEIGHT_BYTES) {
        return;
      }
    }
    gpuLock.writeLock().lock();
    try {
      if (closed) {
        return;
      }
      device.makeCurrent();
      synchronized (weights) {
        while (collected.poll() != null) {
          // drained: the loop below frees every entry whose kernel is gone
        }
        var it = weights.entrySet().iterator();
        int keep = weights.size();
        while (it.hasNext()) {
          var e = it.next();
          boolean gone = e.getKey().get() == null;
          if (gone || keep > MAX_KERNELS || weightBytes > MAX_WEIGHT_BYTES) {
            device.free(e.getValue().pointer);
            weightBytes -= e.getValue().bytes;
            it.remove();
            keep--;
          }
        }
      }
    } finally {
      gpuLock.writeLock().unlock();
    }
  }

  private record DeviceWeights(long pointer, long bytes) {}

  /** A kernel by identity, held weakly (a kernel's own equals compares its encoded bytes). */
  private static final class KernelKey extends WeakReference<Kernel> {
    private final int hash;

    KernelKey(Kernel kernel, ReferenceQueue<Kernel> queue) {
      super(kernel, queue);
      this.hash = System.identityHashCode(kernel);
    }

    @Override
    public boolean equals(Object o) {
      if (this == o) {
        return true;
      }
      Kernel k = get();
      return o instanceof KernelKey other && k != null && other.get() == k;
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }

  /** A page-locked host buffer and a device buffer of the same size, grown to the largest use. */
  private final class Staging {
    Pointer host;
    long device;
    long capacity;

    void fit(long bytes) {
      if (bytes > capacity) {
        release();
        host = CudaBackend.this.device.allocHost(bytes);
        device = CudaBackend.this.device.alloc(bytes);
        capacity = bytes;
      }
    }

    void release() {
      CudaBackend.this.device.freeHost(host);
      CudaBackend.this.device.free(device);
      host = null;
      device = 0;
      capacity = 0;
    }
  }

  /** A stream with its buffers: a batch's rows in, its dots out. */
  private final class Lane {
    Pointer stream;
    final Staging in = new Staging();
    final Staging out = new Staging();

    void fit(long inBytes, long outBytes) {
      if (stream == null) {
        stream = device.newStream();
      }
      in.fit(inBytes);
      out.fit(outBytes);
    }

    void release() {
      in.release();
      out.release();
      if (stream != null) {
        device.destroy(stream);
        stream = null;
      }
    }
  }

  @Override
  public void close() {
    boolean release = false;
    gpuLock.writeLock().lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      release = true;
      device.makeCurrent();
      for (Lane l : lanes) { // every lane is back: batches return theirs before the read lock
        l.release();
      }
      synchronized (weights) {
        for (DeviceWeights d : weights.values()) {
          device.free(d.pointer);
        }
        weights.clear();
        weightBytes = 0;
      }
    } finally {
      gpuLock.writeLock().unlock();
      if (release) {
        device.close();
      }
    }
  }
}
