package dev.joule.bridge.energy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.joule.bridge.energy.PowerProfile;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class CalibrationTest {

  /** A package drawing 10 W idle plus 5 W per busy CPU second of this process. */
  static final class ModelPackage extends FakeRaplCounter {
    final long t0 = System.nanoTime();
    final com.sun.management.OperatingSystemMXBean os =
        (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    final long cpu0 = os.getProcessCpuTime();

    @Override
    public Map<String, Double> readJoules() {
      double wall = (System.nanoTime() - t0) / 1e9;
      double cpu = (os.getProcessCpuTime() - cpu0) / 1e9;
      return Map.of("cpu", 10 * wall + 5 * cpu);
    }
  }

  @Test
  void idleAndLoadedPowerBecomeAProfileTheConfigReads() throws Exception {
    Calibration.Result r = Calibration.run(new ModelPackage(), 2, Duration.ofMillis(600));
    // Physical bounds, whatever else runs: the process's CPU is between 0 and 2 vCPUs (10-20 W);
    // idle is this JVM's background work only, and the spinners add at least a fifth of a vCPU.
    assertTrue(r.idleWatts() >= 9.9 && r.idleWatts() < 20.1, "idle " + r.idleWatts());
    assertTrue(r.loadedWatts() > r.idleWatts() + 1 && r.loadedWatts() < 20.1 + 5 * 0.05, "loaded " + r.loadedWatts());
    assertEquals(0, r.dramLoadedWatts());

    String model = "AMD EPYC 9R14 96-Core Processor (R) \"quoted\" \\ back";
    String conf = r.toProfileConf(model, 24, "host-1", "2026-11-21");
    PowerProfile p = PowerProfile.fromConfig("calibrated", ConfigFactory.parseString(conf));
    assertFalse(p.generic());
    PowerProfile family = new PowerProfile("family", "AMD EPYC", false, 1, 2, 3, 0.4, "t");
    PowerProfile generic = new PowerProfile("g", "", true, 1, 2, 3, 0.4, "t");
    assertEquals(p, PowerProfile.choose(List.of(family, p, generic), model),
        "the profile's match finds exactly this CPU model, special characters and all, and beats the family's");
    assertEquals(p, PowerProfile.choose(List.of(p, family, generic), model), "whatever the order");
    assertEquals(family, PowerProfile.choose(List.of(p, family, generic), "AMD EPYC 7B13"));
    assertEquals(r.dynamicWattsPerVcpu(), p.cpuWattsLow(), 1e-3);
    assertEquals(r.loadedWattsPerVcpu(), p.cpuWattsHigh(), 1e-3);
    assertEquals(0.392, p.dramWattsPerGb(), 1e-9, "no DRAM zone: the CCF coefficient, and the source says so");
    assertTrue(p.source().contains("no DRAM zone"));
  }

  @Test
  void withoutAMeterItSaysSoAndWritesNothing(@TempDir Path tmp) {
    Path out = tmp.resolve("profile.conf");
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream old = System.err;
    int code;
    try {
      System.setErr(new PrintStream(err, true));
      code = new CommandLine(new CalibrateMain()).execute("--powercap", tmp.resolve("none").toString(),
          "--out", out.toString(), "--seconds", "1");
    } finally {
      System.setErr(old);
    }
    assertEquals(1, code);
    assertTrue(err.toString().startsWith("joule: calibrate: nothing can measure energy on this machine: no "
        + tmp.resolve("none")), err.toString());
    assertFalse(Files.exists(out));
  }
}
