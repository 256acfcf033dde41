package dev.joule.bridge.energy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import dev.joule.bridge.energy.EnergyMethod;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** RAPL against a powercap folder made here, NVML against a fake library and its absence. */
class MetersTest {

  @TempDir Path tmp;

  static void zone(Path root, String dir, String name, long energyUj, long maxUj) throws IOException {
    Path d = Files.createDirectories(root.resolve(dir));
    Files.writeString(d.resolve("name"), name + "\n");
    Files.writeString(d.resolve("energy_uj"), energyUj + "\n");
    Files.writeString(d.resolve("max_energy_range_uj"), maxUj + "\n");
  }

  static void set(Path root, String dir, long energyUj) throws IOException {
    Files.writeString(root.resolve(dir).resolve("energy_uj"), energyUj + "\n");
  }

  @Test
  void raplSumsPackagesAndDramAndSurvivesAWrapAround() throws IOException {
    Path pc = tmp.resolve("powercap");
    long max = 262_143_328_850L;
    zone(pc, "intel-rapl:0", "package-0", max - 1_000_000, max);   // 1 J before the wrap
    zone(pc, "intel-rapl:0:0", "core", 5_000_000, max);             // inside the package: ignored
    zone(pc, "intel-rapl:0:1", "dram", 7_000_000, max);
    zone(pc, "intel-rapl:1", "package-1", 10_000_000, max);
    zone(pc, "intel-rapl:1:0", "dram", 0, max);
    zone(pc, "intel-rapl-mmio:0", "package-0", 0, max);             // a second view of package 0
    RaplMeter rapl = RaplMeter.open(pc);
    assertNull(rapl.unavailableReason(), rapl.describe());
    assertEquals(EnergyMethod.MEASURED_RAPL, rapl.method());
    assertEquals(Map.of("cpu", 0.0, "dram", 0.0), rapl.readJoules(), "the first reading is the origin");

    set(pc, "intel-rapl:0", 2_500_000);     // wrapped: 1 J to the top, +1 µJ to 0, then 2.5 J
    set(pc, "intel-rapl:0:0", 99_000_000);
    set(pc, "intel-rapl:0:1", 8_000_000);   // +1 J
    set(pc, "intel-rapl:1", 13_000_000);    // +3 J
    set(pc, "intel-rapl:1:0", 500_000);     // +0.5 J
    Map<String, Double> j = rapl.readJoules();
    assertEquals(1.0 + 0.000001 + 2.5 + 3.0, j.get("cpu"), 1e-9);
    assertEquals(1.5, j.get("dram"), 1e-9);

    set(pc, "intel-rapl:1", 14_000_000);    // +1 J more, cumulative
    assertEquals(7.500001, rapl.readJoules().get("cpu"), 1e-9);
  }

  @Test
  void raplSaysWhyItCannotMeasure() throws IOException {
    RaplMeter none = RaplMeter.open(tmp.resolve("no-such-folder"));
    assertFalse(none.available());
    assertTrue(none.unavailableReason().contains("no " + tmp.resolve("no-such-folder")), none.unavailableReason());
    assertThrows(IllegalStateException.class, none::readJoules);

    Path empty = Files.createDirectories(tmp.resolve("empty"));
    assertTrue(RaplMeter.open(empty).unavailableReason().startsWith("no RAPL package zones"));

    Path noRange = tmp.resolve("no-range");
    zone(noRange, "intel-rapl:0", "package-0", 1, 10);
    Files.delete(noRange.resolve("intel-rapl:0/max_energy_range_uj"));
    assertTrue(RaplMeter.open(noRange).unavailableReason().contains("max_energy_range_uj"));

    Path locked = tmp.resolve("locked");
    zone(locked, "intel-rapl:0", "package-0", 1, 10);
    Files.delete(locked.resolve("intel-rapl:0/energy_uj"));
    Files.createDirectory(locked.resolve("intel-rapl:0/energy_uj")); // unreadable as a file
    assertTrue(RaplMeter.open(locked).unavailableReason().contains("not readable by this user"));
  }

  @Test
  void thisMachinesRaplIsUsableOrSaysWhyNot() {
    RaplMeter rapl = RaplMeter.open();
    if (!Files.isDirectory(RaplMeter.POWERCAP)) {
      assertEquals("no " + RaplMeter.POWERCAP + " (no powercap driver: a VM, or a kernel without RAPL support)",
          rapl.unavailableReason());
    } else if (rapl.available()) {
      assertTrue(rapl.readJoules().get("cpu") >= 0);
    } else {
      assertFalse(rapl.unavailableReason().isBlank());
    }
  }

  @Test
  void nvmlAbsentIsUnavailableNotAnError() {
    NvmlMeter absent = NvmlMeter.open(() -> {
      throw new UnsatisfiedLinkError("libnvidia-ml.so.1: cannot open shared object file");
    });
    assertFalse(absent.available());
    assertEquals("libnvidia-ml.so.1 not found (no NVIDIA driver on this machine)", absent.unavailableReason());
    assertThrows(IllegalStateException.class, absent::readJoules);
    absent.close();
    // And on this machine, the real loader: a GPU only where the driver's library is installed.
    NvmlMeter real = NvmlMeter.open();
    boolean driver = Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"))
        || Files.exists(Path.of("/usr/lib64/libnvidia-ml.so.1"));
    if (!driver) {
      assertEquals("libnvidia-ml.so.1 not found (no NVIDIA driver on this machine)", real.unavailableReason());
    }
    real.close();
    real.close(); // twice is harmless
  }

  /** A fake NVML with two GPUs whose counters the test moves. */
  static class FakeNvml implements NvmlMeter.Nvml {
    final long[] millijoules = {1_000, 5_000};
    int energyRc = 0;
    int shutdowns;

    @Override
    public int nvmlInit_v2() {
      return 0;
    }

    @Override
    public int nvmlShutdown() {
      shutdowns++;
      return 0;
    }

    @Override
    public int nvmlDeviceGetCount_v2(IntByReference count) {
      count.setValue(2);
      return 0;
    }

    @Override
    public int nvmlDeviceGetHandleByIndex_v2(int index, PointerByReference device) {
      device.setValue(new Pointer(index + 1));
      return 0;
    }

    @Override
    public int nvmlDeviceGetHandleByPciBusId_v2(String pciBusId, PointerByReference device) {
      if (!pciBusId.equals("0000:3B:00.0")) {
        return 2; // NVML_ERROR_INVALID_ARGUMENT
      }
      device.setValue(new Pointer(2));
      return 0;
    }

    @Override
    public int nvmlDeviceGetTotalEnergyConsumption(Pointer device, LongByReference mj) {
      mj.setValue(millijoules[(int) Pointer.nativeValue(device) - 1]);
      return energyRc;
    }

    @Override
    public int nvmlDeviceGetName(Pointer device, byte[] name, int length) {
      byte[] n = "NVIDIA H100 80GB HBM3".getBytes(StandardCharsets.UTF_8);
      System.arraycopy(n, 0, name, 0, n.length);
      return 0;
    }

    @Override
    public int nvmlSystemGetDriverVersion(byte[] version, int length) {
      byte[] v = "550.54.15".getBytes(StandardCharsets.UTF_8);
      System.arraycopy(v, 0, version, 0, v.length);
      return 0;
    }

    @Override
    public int nvmlDeviceGetPowerManagementLimit(Pointer device, IntByReference mw) {
      mw.setValue(700_000);
      return 0;
    }
  }

  @Test
  void nvmlSumsTheGpusTotalEnergyCounters() {
    FakeNvml fake = new FakeNvml();
    NvmlMeter nvml = NvmlMeter.open(() -> fake);
    assertNull(nvml.unavailableReason());
    assertEquals("2× NVIDIA H100 80GB HBM3", nvml.gpuModel());
    assertEquals("550.54.15", nvml.driverVersion());
    assertEquals(1400, nvml.powerLimitWatts(), 1e-9);
    assertEquals(6.0, nvml.readJoules().get("gpu"), 1e-9);
    fake.millijoules[0] += 2_500;
    fake.millijoules[1] += 500;
    assertEquals(9.0, nvml.readJoules().get("gpu"), 1e-9);
    nvml.close();
    assertEquals(1, fake.shutdowns);

    // A node measures its own GPU only, found by CUDA's PCI bus id.
    FakeNvml two = new FakeNvml();
    NvmlMeter one = NvmlMeter.open(() -> two, "0000:3B:00.0");
    assertEquals("1× NVIDIA H100 80GB HBM3", one.gpuModel());
    assertEquals(5.0, one.readJoules().get("gpu"), 1e-9, "the second GPU's counter alone");
    assertTrue(NvmlMeter.open(() -> two, "0000:AF:00.0").unavailableReason()
        .contains("nvmlDeviceGetHandleByPciBusId(0000:AF:00.0) failed"));

    FakeNvml old = new FakeNvml();
    old.energyRc = 3; // NVML_ERROR_NOT_SUPPORTED: a GPU older than Volta
    NvmlMeter none = NvmlMeter.open(() -> old);
    assertTrue(none.unavailableReason().contains("has no total energy counter (NVML: not supported"), none.unavailableReason());
    assertEquals("NVIDIA H100 80GB HBM3", none.gpuModel(), "the GPU is still named");
    assertEquals(1, old.shutdowns, "a failed open releases NVML");
    assertThrows(IllegalStateException.class, nvml::readJoules, "closed");

    FakeNvml missingSymbol = new FakeNvml() {
      @Override
      public int nvmlDeviceGetTotalEnergyConsumption(Pointer device, LongByReference mj) {
        throw new UnsatisfiedLinkError("Error looking up function 'nvmlDeviceGetTotalEnergyConsumption'");
      }
    };
    NvmlMeter oldDriver = NvmlMeter.open(() -> missingSymbol);
    assertTrue(oldDriver.unavailableReason().startsWith("NVML call failed: java.lang.UnsatisfiedLinkError"),
        oldDriver.unavailableReason());
  }
}
