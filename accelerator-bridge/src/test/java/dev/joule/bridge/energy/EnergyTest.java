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

  @Test
  void cpuTimeEstimateIsCpuSecondsTimesTheBand() {
    List<EnergyFigure> f = CpuTimeEstimator.estimate(2_000_000_000L, 4_000_000_000L, 0.5, EPYC);
    EnergyFigure cpu = f.get(0);
    assertEquals(EnergyMethod.ESTIMATED_CPUTIME, cpu.method());
    assertEquals(4.0, cpu.joules(), 1e-12);
    assertEquals(2.0, cpu.joulesLow(), 1e-12);
    assertEquals(8.0, cpu.joulesHigh(), 1e-12);
    assertEquals(0.5 * 0.4 * 4.0, f.get(1).joules(), 1e-12);
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
