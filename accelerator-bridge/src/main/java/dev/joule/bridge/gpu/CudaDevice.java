package dev.joule.bridge.gpu;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.nio.charset.StandardCharsets;

/**
 * One GPU through the driver API: its primary context (made current on whichever thread calls),
 * memory, streams, modules and launches. Every failed call throws a {@link CudaException} naming
 * the call and CUDA's name for the error.
 */
final class CudaDevice implements AutoCloseable {

  private final CudaDriver cu;
  private final int device;
  private final Pointer context;
  private final String name;
  private final int major;
  private final int minor;
  private final long totalMemory;
  private final int driverVersion;
  private final String pciBusId;

  private CudaDevice(CudaDriver cu, int device, Pointer context, String name, int major, int minor,
      long totalMemory, int driverVersion, String pciBusId) {
    this.cu = cu;
    this.device = device;
    this.context = context;
    this.name = name;
    this.major = major;
    this.minor = minor;
    this.totalMemory = totalMemory;
    this.driverVersion = driverVersion;
    this.pciBusId = pciBusId;
  }

  /** @throws CudaException where the driver cannot start or the GPU does not exist */
  static CudaDevice open(CudaDriver cu, int ordinal) {
    check(cu, cu.cuInit(0), "cuInit");
    IntByReference count = new IntByReference();
    check(cu, cu.cuDeviceGetCount(count), "cuDeviceGetCount");
    if (ordinal < 0 || ordinal >= count.getValue()) {
      throw new CudaException("GPU " + ordinal + " asked for, the driver sees " + count.getValue());
    }
    IntByReference dev = new IntByReference();
    check(cu, cu.cuDeviceGet(dev, ordinal), "cuDeviceGet");
    int d = dev.getValue();
    byte[] name = new byte[256];
    check(cu, cu.cuDeviceGetName(name, name.length, d), "cuDeviceGetName");
    IntByReference major = new IntByReference();
    IntByReference minor = new IntByReference();
    check(cu, cu.cuDeviceGetAttribute(major, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d),
        "cuDeviceGetAttribute(major)");
    check(cu, cu.cuDeviceGetAttribute(minor, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d),
        "cuDeviceGetAttribute(minor)");
    LongByReference memory = new LongByReference();
    check(cu, cu.cuDeviceTotalMem_v2(memory, d), "cuDeviceTotalMem");
    IntByReference version = new IntByReference();
    check(cu, cu.cuDriverGetVersion(version), "cuDriverGetVersion");
    byte[] bus = new byte[64];
    check(cu, cu.cuDeviceGetPCIBusId(bus, bus.length, d), "cuDeviceGetPCIBusId");
    // A waiting host thread sleeps rather than spins: the node's CPU does the epilogue, and its
    // energy is the node's. Refused (and harmless) when another user made the context already.
    cu.cuDevicePrimaryCtxSetFlags_v2(d, CudaDriver.CU_CTX_SCHED_BLOCKING_SYNC);
    PointerByReference ctx = new PointerByReference();
    check(cu, cu.cuDevicePrimaryCtxRetain(ctx, d), "cuDevicePrimaryCtxRetain");
    return new CudaDevice(cu, d, ctx.getValue(), cString(name), major.getValue(), minor.getValue(),
        memory.getValue(), version.getValue(), cString(bus));
  }

  static String cString(byte[] b) {
    int n = 0;
    while (n < b.length && b[n] != 0) {
      n++;
    }
    return new String(b, 0, n, StandardCharsets.UTF_8);
  }

  static void check(CudaDriver cu, int rc, String call) {
    if (rc != CudaDriver.CUDA_SUCCESS) {
      throw new CudaException(call + " failed: " + errorName(cu, rc));
    }
  }

  /** e.g. {@code CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)}. */
  static String errorName(CudaDriver cu, int rc) {
    try {
      PointerByReference n = new PointerByReference();
      PointerByReference t = new PointerByReference();
      String name = cu.cuGetErrorName(rc, n) == 0 && n.getValue() != null ? n.getValue().getString(0) : "CUresult " + rc;
      String text = cu.cuGetErrorString(rc, t) == 0 && t.getValue() != null ? t.getValue().getString(0) : null;
      return text == null ? name : name + " (" + text + ")";
    } catch (RuntimeException | LinkageError e) {
      return "CUresult " + rc;
    }
  }

  void check(int rc, String call) {
    check(cu, rc, call);
  }

  String name() {
    return name;
  }

  /** e.g. {@code 90} for compute capability 9.0. */
  int computeCapability() {
    return major * 10 + minor;
  }

  /** e.g. {@code 0000:3B:00.0}: how NVML finds the same GPU (its indices need not be CUDA's). */
  String pciBusId() {
    return pciBusId;
  }

  /** CUDA's major version the driver supports, e.g. 13. */
  int driverMajor() {
    return driverVersion / 1000;
  }

  long totalMemory() {
    return totalMemory;
  }

  /** e.g. {@code 13.0}. */
  String driverVersion() {
    return driverVersion / 1000 + "." + driverVersion % 1000 / 10;
  }

  /** Makes the GPU's primary context current on the calling thread (cheap when it already is). */
  void makeCurrent() {
    check(cu.cuCtxSetCurrent(context), "cuCtxSetCurrent");
  }

  long alloc(long bytes) {
    LongByReference p = new LongByReference();
    check(cu.cuMemAlloc_v2(p, Math.max(1, bytes)), "cuMemAlloc(" + bytes + " bytes)");
    return p.getValue();
  }

  void free(long devicePointer) {
    if (devicePointer != 0) {
      check(cu.cuMemFree_v2(devicePointer), "cuMemFree");
    }
  }

  /** Page-locked host memory: copies from it run at the bus's speed and asynchronously. */
  Pointer allocHost(long bytes) {
    PointerByReference p = new PointerByReference();
    check(cu.cuMemAllocHost_v2(p, Math.max(1, bytes)), "cuMemAllocHost(" + bytes + " bytes)");
    return p.getValue();
  }

  void freeHost(Pointer p) {
    if (p != null) {
      check(cu.cuMemFreeHost(p), "cuMemFreeHost");
    }
  }

  /** Copies host bytes to the GPU and waits: for parameters, once per kernel. */
  void upload(long destination, byte[] bytes) {
    Memory m = new Memory(Math.max(1, bytes.length));
    m.write(0, bytes, 0, bytes.length);
    upload(destination, m, bytes.length);
  }

  void upload(long destination, float[] values) {
    Memory m = new Memory(Math.max(1, 4L * values.length));
    m.write(0, values, 0, values.length);
    upload(destination, m, 4L * values.length);
  }

  /**
   * A copy from pageable memory may return before it reaches the GPU, and it is ordered only on
   * the legacy stream, which the lanes' non-blocking streams do not wait for: synchronize.
   */
  private void upload(long destination, Memory source, long bytes) {
    check(cu.cuMemcpyHtoD_v2(destination, source, bytes), "cuMemcpyHtoD");
    check(cu.cuCtxSynchronize(), "cuCtxSynchronize");
  }

  void copyIn(long destination, Pointer source, long bytes, Pointer stream) {
    check(cu.cuMemcpyHtoDAsync_v2(destination, source, bytes, stream), "cuMemcpyHtoDAsync");
  }

  void copyOut(Pointer destination, long source, long bytes, Pointer stream) {
    check(cu.cuMemcpyDtoHAsync_v2(destination, source, bytes, stream), "cuMemcpyDtoHAsync");
  }

  Pointer newStream() {
    PointerByReference s = new PointerByReference();
    check(cu.cuStreamCreate(s, 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate");
    return s.getValue();
  }

  void synchronize(Pointer stream) {
    check(cu.cuStreamSynchronize(stream), "cuStreamSynchronize");
  }

  void destroy(Pointer stream) {
    check(cu.cuStreamDestroy_v2(stream), "cuStreamDestroy");
  }

  /** Loads PTX and returns the named functions, in order. */
  Pointer[] load(byte[] ptx, String... functions) {
    byte[] image = java.util.Arrays.copyOf(ptx, ptx.length + 1); // NUL-terminated
    PointerByReference module = new PointerByReference();
    check(cu.cuModuleLoadData(module, image), "cuModuleLoadData");
    Pointer[] f = new Pointer[functions.length];
    for (int i = 0; i < functions.length; i++) {
      PointerByReference p = new PointerByReference();
      check(cu.cuModuleGetFunction(p, module.getValue(), functions[i]), "cuModuleGetFunction(" + functions[i] + ")");
      f[i] = p.getValue();
    }
    return f;
  }

  /**
   * Launches a one-dimensional grid. Arguments are device pointers (Long) and ints (Integer), in
   * the kernel's order; CUDA copies their values at the call.
   */
  void launch(Pointer function, int blocks, int threadsPerBlock, Pointer stream, Object... args) {
    Memory params = new Memory(8L * args.length);
    Memory[] values = new Memory[args.length];
    for (int i = 0; i < args.length; i++) {
      values[i] = new Memory(8);
      if (args[i] instanceof Long l) {
        values[i].setLong(0, l);
      } else if (args[i] instanceof Integer n) {
        values[i].setInt(0, n);
      } else {
        throw new IllegalArgumentException("kernel argument " + i + " is " + args[i]);
      }
      params.setPointer(8L * i, values[i]);
    }
    check(cu.cuLaunchKernel(function, blocks, 1, 1, threadsPerBlock, 1, 1, 0, stream, params, null), "cuLaunchKernel");
    // params holds only their addresses: keep the values alive until CUDA has copied them.
    java.lang.ref.Reference.reachabilityFence(values);
  }

  @Override
  public void close() {
    cu.cuDevicePrimaryCtxRelease_v2(device);
  }
}
