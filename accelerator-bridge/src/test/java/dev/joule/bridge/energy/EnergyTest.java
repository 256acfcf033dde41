package dev.joule.bridge.energy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EnergyTest {

  static final PowerProfile EPYC = new PowerProfile("epyc", "AMD EPYC", false, 1.0, 2.0, 4.0, 0.4, "t");
  static final PowerProfile GENERIC = new PowerProfile("generic", "", true, 0.5, 3.0, 7.0, 0.4, "t");

  @Test
  void detectsHardwareFromProcFiles(@TempDir Path dir) throws Exception {
    Path cpu = dir.resolve("cpuinfo");
    Files.writeString(cpu, "processor : 0\nmodel name : AMD EPYC 9R14 96-Core Processor\n"
        + "flags : fpu vme avx512f hypervisor avx512_vnni\n");
    Path mem = dir.resolve("meminfo");
    Files.writeString(mem, "MemTotal:       24000000 kB\nMemFree: 1 kB\n");
    Path powercap = dir.resolve("powercap");
    HardwareProfile hw = HardwareProfile.detectFrom(cpu, mem, powercap);
    assertEquals("AMD EPYC 9R14 96-Core Processor", hw.cpuModel());
    assertTrue(hw.hypervisor());
    assertEquals(24000000L * 1024, hw.ramBytes());
    assertFalse(hw.raplAvailable());

    Files.createDirectories(powercap.resolve("intel-rapl:0"));
    Files.writeString(powercap.resolve("intel-rapl:0/energy_uj"), "123");
    assertTrue(HardwareProfile.detectFrom(cpu, mem, powercap).raplAvailable());
  }

  @Test
  void profileChosenByCpuModelWithGenericFallback() {
    List<PowerProfile> all = List.of(GENERIC, EPYC);
    assertEquals("epyc", PowerProfile.choose(all, "AMD EPYC 7763").name());
    assertEquals("generic", PowerProfile.choose(all, "Intel Xeon").name());
    assertThrows(IllegalStateException.class, () -> PowerProfile.choose(List.of(EPYC), "Intel"));
    assertThrows(IllegalArgumentException.class,
        () -> new PowerProfile("bad", "", true, 3, 2, 1, 0.4, ""));
  }

  static final OpsBytesModel OPS = new OpsBytesModel(4.6, 0.3, 3.7, 162.5, 325, 1.25, 12.5, "t");
  /** 24 GB on 2 vCPUs: 12 GB of DRAM background per busy vCPU. */
  static final HardwareProfile VM = new HardwareProfile("AMD EPYC", 2, true, 24_000_000_000L, false, null);

  static double component(List<EnergyFigure> f, String c, int which) {
    return f.stream().filter(x -> x.component().equals(c))
        .mapToDouble(x -> which == 0 ? x.joules() : which < 0 ? x.joulesLow() : x.joulesHigh()).sum();
  }

  @Test
  void cpuTimeEstimateIsCpuSecondsTimesTheBandPlusLabelledDram() {
    List<EnergyFigure> f = CpuTimeEstimator.estimate(2_000_000_000L, 8_000_000L, VM, EPYC, OPS);
    assertEquals(List.of("cpu", "dram_background", "dram_traffic"), f.stream().map(EnergyFigure::component).toList());
    assertTrue(f.stream().allMatch(x -> x.method() == EnergyMethod.ESTIMATED_CPUTIME));
    assertEquals(4.0, component(f, "cpu", 0), 1e-12);
    assertEquals(2.0, component(f, "cpu", -1), 1e-12);
    assertEquals(8.0, component(f, "cpu", 1), 1e-12);
    // 12 GB per vCPU x 0.4 W/GB x 2 busy seconds
    assertEquals(12 * 0.4 * 2, component(f, "dram_background", 0), 1e-9);
    assertEquals(8e6 * 162.5e-12, component(f, "dram_traffic", -1), 1e-15);
    assertEquals(8e6 * 325e-12, component(f, "dram_traffic", 1), 1e-15);
  }

  @Test
  void theEstimateFollowsCpuTimeAndBytesNotWallTimeOrHeap() {
    // Property-style: for any split of the same CPU time and bytes, the estimate is the same;
    // doubling CPU time doubles every part but traffic; nothing here can see -Xmx or wall time.
    java.util.Random rnd = new java.util.Random(7);
    for (int i = 0; i < 200; i++) {
      long cpu = 1_000_000L + rnd.nextInt(2_000_000_000);
      long bytes = rnd.nextInt(1 << 30);
      List<EnergyFigure> one = CpuTimeEstimator.estimate(cpu, bytes, VM, EPYC, OPS);
      List<EnergyFigure> twice = CpuTimeEstimator.estimate(2 * cpu, bytes, VM, EPYC, OPS);
      assertEquals(2 * component(one, "cpu", 0), component(twice, "cpu", 0), 1e-9);
      assertEquals(2 * component(one, "dram_background", 0), component(twice, "dram_background", 0), 1e-9);
      assertEquals(component(one, "dram_traffic", 0), component(twice, "dram_traffic", 0), 1e-12);
    }
    HardwareProfile bigger = new HardwareProfile("AMD EPYC", 4, true, 24_000_000_000L, false, null);
    assertEquals(0.5 * CpuTimeEstimator.backgroundWattsPerBusyVcpu(VM, EPYC),
        CpuTimeEstimator.backgroundWattsPerBusyVcpu(bigger, EPYC), 1e-12, "more vCPUs share the same DRAM");
  }

  @Test
  void aContainersMemoryLimitBoundsTheMemoryItHolds(@TempDir Path dir) throws Exception {
    Path cpu = dir.resolve("cpuinfo");
    Files.writeString(cpu, "model name : AMD EPYC\n");
    Path mem = dir.resolve("meminfo");
    Files.writeString(mem, "MemTotal:       24000000 kB\n");
    Path limit = dir.resolve("memory.max");
    Files.writeString(limit, "4294967296\n");
    assertEquals(4294967296L, HardwareProfile.detectFrom(cpu, mem, dir.resolve("none"), limit).ramBytes());
    Files.writeString(limit, "max\n");
    assertEquals(24000000L * 1024, HardwareProfile.detectFrom(cpu, mem, dir.resolve("none"), limit).ramBytes());
  }

  @Test
  void opsBytesModelChargesInt8FarLessThanFp32PerMac() {
    OpsBytesModel m = new OpsBytesModel(4.6, 0.3, 3.7, 162.5, 325, 1.25, 12.5, "t");
    double fp32 = m.model(new OpsBytesModel.Work(1_000_000, 0, 0, 0, 0)).get(0).joules();
    double int8 = m.model(new OpsBytesModel.Work(0, 1_000_000, 0, 0, 0)).get(0).joules();
    assertEquals(4.6e-6, fp32, 1e-15);
    assertEquals(0.3e-6, int8, 1e-15);
    EnergyFigure dram = m.model(new OpsBytesModel.Work(0, 0, 0, 8, 0)).get(1);
    assertEquals(1300e-12, dram.joulesLow(), 1e-18);
    assertEquals(2600e-12, dram.joulesHigh(), 1e-18);
  }
}
