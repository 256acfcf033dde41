package dev.joule.bridge.energy.meter;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import dev.joule.bridge.energy.EnergyMethod;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * NVIDIA GPUs through NVML ({@code libnvidia-ml.so.1}, bound with JNA): the total energy counter
 * of every GPU ({@code nvmlDeviceGetTotalEnergyConsumption}, millijoules since the driver
 * loaded, Volta and newer), summed as component {@code gpu}. Without the library, or with a GPU
 * that has no energy counter, the meter says why and is unavailable; it never fails a job.
 */
public final class NvmlMeter implements EnergyCounter {

  private static final int NVML_SUCCESS = 0;
  private static final int NVML_ERROR_NOT_SUPPORTED = 3;

  /** The part of the NVML C API used here. */
  public interface Nvml extends Library {
    int nvmlInit_v2();

    int nvmlShutdown();

    int nvmlDeviceGetCount_v2(IntByReference count);

    int nvmlDeviceGetHandleByIndex_v2(int index, PointerByReference device);

    int nvmlDeviceGetHandleByPciBusId_v2(String pciBusId, PointerByReference device);

    int nvmlDeviceGetTotalEnergyConsumption(Pointer device, LongByReference millijoules);

    int nvmlDeviceGetName(Pointer device, byte[] name, int length);

    int nvmlSystemGetDriverVersion(byte[] version, int length);

    int nvmlDeviceGetPowerManagementLimit(Pointer device, IntByReference milliwatts);
  }

  private final Nvml nvml;
  private final List<Pointer> devices;
  private final String unavailable;
  private final String gpuModel;
  private final String driver;
  private final double powerLimitWatts;
  private boolean closed;

  private NvmlMeter(Nvml nvml, List<Pointer> devices, String unavailable, String gpuModel,
      String driver, double powerLimitWatts) {
    this.nvml = nvml;
    this.devices = devices;
    this.unavailable = unavailable;
    this.gpuModel = gpuModel;
    this.driver = driver;
    this.powerLimitWatts = powerLimitWatts;
  }

  private static NvmlMeter unavailable(String why) {
    return new NvmlMeter(null, List.of(), why, null, null, 0);
  }

  /** The machine's GPUs, through the NVIDIA driver's library if it is installed. */
  public static NvmlMeter open() {
    return open(NvmlMeter::loadLibrary);
  }

  private static Nvml loadLibrary() {
    try {
      // The driver installs only the versioned name; the unversioned one comes with dev packages.
      return Native.load("libnvidia-ml.so.1", Nvml.class);
    } catch (UnsatisfiedLinkError first) {
      return Native.load("nvidia-ml", Nvml.class);
    }
  }

  /**
   * The one GPU at PCI bus id {@code pciBusId} (as CUDA gives it, e.g. {@code 0000:3B:00.0}):
   * what an accelerator node measures, since NVML's device indices need not be CUDA's.
   */
  public static NvmlMeter open(String pciBusId) {
    return open(NvmlMeter::loadLibrary, pciBusId);
  }

  /** @param loader binds the library; throws {@link LinkageError} when it is absent */
  public static NvmlMeter open(Supplier<Nvml> loader) {
    return open(loader, null);
  }

  /** @param pciBusId the one GPU to measure, or null for all of them */
  static NvmlMeter open(Supplier<Nvml> loader, String pciBusId) {
    Nvml nvml;
    try {
      nvml = loader.get();
    } catch (LinkageError e) {
      return unavailable("libnvidia-ml.so.1 not found (no NVIDIA driver on this machine)");
    }
    try {
      return openWith(nvml, pciBusId);
    } catch (LinkageError | RuntimeException e) {
      // JNA binds each function on first call: an old driver without one fails here, not above.
      return unavailable("NVML call failed: " + e);
    }
  }

  private static NvmlMeter openWith(Nvml nvml, String pciBusId) {
    int rc = nvml.nvmlInit_v2();
    if (rc != NVML_SUCCESS) {
      return unavailable("nvmlInit failed with NVML error " + rc);
    }
    IntByReference count = new IntByReference();
    rc = nvml.nvmlDeviceGetCount_v2(count);
    if (rc != NVML_SUCCESS || count.getValue() == 0) {
      nvml.nvmlShutdown();
      return unavailable(rc != NVML_SUCCESS ? "nvmlDeviceGetCount failed with NVML error " + rc : "NVML sees no GPU");
    }
    List<Pointer> devices = new ArrayList<>();
    List<String> names = new ArrayList<>();
    double limitW = 0;
    int n = pciBusId == null ? count.getValue() : 1;
    for (int i = 0; i < n; i++) {
      PointerByReference h = new PointerByReference();
      rc = pciBusId == null ? nvml.nvmlDeviceGetHandleByIndex_v2(i, h) : nvml.nvmlDeviceGetHandleByPciBusId_v2(pciBusId, h);
      if (rc != NVML_SUCCESS) {
        nvml.nvmlShutdown();
        return unavailable((pciBusId == null ? "nvmlDeviceGetHandleByIndex(" + i + ")"
            : "nvmlDeviceGetHandleByPciBusId(" + pciBusId + ")") + " failed with NVML error " + rc);
      }
      Pointer d = h.getValue();
      byte[] name = new byte[96];
      names.add(nvml.nvmlDeviceGetName(d, name, name.length) == NVML_SUCCESS ? cString(name) : "GPU " + i);
      LongByReference mj = new LongByReference();
      rc = nvml.nvmlDeviceGetTotalEnergyConsumption(d, mj);
      if (rc != NVML_SUCCESS) {
        nvml.nvmlShutdown();
        NvmlMeter none = unavailable("GPU " + i + " (" + names.get(i) + ") has no total energy counter"
            + (rc == NVML_ERROR_NOT_SUPPORTED ? " (NVML: not supported; needs Volta or newer)" : " (NVML error " + rc + ")"));
        return new NvmlMeter(null, List.of(), none.unavailable, names.get(i), null, 0);
      }
      IntByReference mw = new IntByReference();
      if (nvml.nvmlDeviceGetPowerManagementLimit(d, mw) == NVML_SUCCESS) {
        limitW += mw.getValue() / 1000.0;
      }
      devices.add(d);
    }
    byte[] version = new byte[80];
    String driver = nvml.nvmlSystemGetDriverVersion(version, version.length) == NVML_SUCCESS ? cString(version) : "unknown";
    String model = names.stream().distinct().count() == 1 ? names.size() + "× " + names.get(0) : String.join(", ", names);
    return new NvmlMeter(nvml, List.copyOf(devices), null, model, driver, limitW);
  }

  private static String cString(byte[] b) {
    int n = 0;
    while (n < b.length && b[n] != 0) {
      n++;
    }
    return new String(b, 0, n, StandardCharsets.UTF_8);
  }

  @Override
  public String name() {
    return "nvml";
  }

  @Override
  public EnergyMethod method() {
    return EnergyMethod.MEASURED_NVML;
  }

  @Override
  public String unavailableReason() {
    return unavailable;
  }

  /**
   * e.g. {@code 1× NVIDIA H100 80GB HBM3}; null when no GPU could be named (a GPU without an
   * energy counter is still named, though the meter is unavailable).
   */
  public String gpuModel() {
    return gpuModel;
  }

  public String driverVersion() {
    return driver;
  }

  /** Sum of the GPUs' power limits, W. */
  public double powerLimitWatts() {
    return powerLimitWatts;
  }

  @Override
  public String describe() {
    return unavailable != null ? "NVML unavailable: " + unavailable
        : "NVML: " + gpuModel + ", driver " + driver + ", power limit " + Math.round(powerLimitWatts) + " W";
  }

  @Override
  public synchronized Map<String, Double> readJoules() {
    if (unavailable != null) {
      throw new IllegalStateException(describe());
    }
    if (closed) {
      throw new IllegalStateException("NVML meter is closed");
    }
    long total = 0;
    for (int i = 0; i < devices.size(); i++) {
      LongByReference mj = new LongByReference();
      int rc = nvml.nvmlDeviceGetTotalEnergyConsumption(devices.get(i), mj);
      if (rc != NVML_SUCCESS) {
        throw new IllegalStateException("NVML energy of GPU " + i + " failed with NVML error " + rc);
      }
      total += mj.getValue();
    }
    // A 64-bit millijoule counter since the driver loaded: no wrap within any job's lifetime.
    return Map.of("gpu", total / 1000.0);
  }

  @Override
  public synchronized void close() {
    if (nvml != null && !closed) {
      closed = true;
      nvml.nvmlShutdown();
    }
  }
}
