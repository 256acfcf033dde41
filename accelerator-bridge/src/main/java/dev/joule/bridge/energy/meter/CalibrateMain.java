package dev.joule.bridge.energy.meter;

import dev.joule.bridge.energy.HardwareProfile;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code joule calibrate}: measures this machine's idle and loaded power with RAPL and writes a
 * hardware profile for {@code conf/hardware/}. Where nothing can measure (these VMs), it says
 * why and writes nothing: an assumed profile stays an assumption.
 */
@Command(name = "calibrate", mixinStandardHelpOptions = true,
    description = "Measure idle and loaded power with RAPL and write a hardware profile. "
        + "On a machine without a readable meter it says so, writes nothing and exits with 1.")
public final class CalibrateMain implements Callable<Integer> {

  @Option(names = "--seconds", defaultValue = "10", description = "length of each phase (idle, loaded)")
  int seconds;

  @Option(names = "--out", paramLabel = "FILE", description = "profile to write; default conf/hardware/calibrated-HOST.conf")
  Path out;

  @Option(names = "--powercap", paramLabel = "DIR", defaultValue = "/sys/class/powercap",
      description = "powercap folder")
  Path powercap;

  @Option(names = "--force", description = "overwrite FILE if it exists")
  boolean force;

  @Override
  public Integer call() throws Exception {
    RaplMeter rapl = RaplMeter.open(powercap);
    if (!rapl.available()) {
      System.err.println("joule: calibrate: nothing can measure energy on this machine: "
          + rapl.unavailableReason() + ". No profile written; energy stays estimated from the assumed profile.");
      return 1;
    }
    String host = hostName();
    Path file = out != null ? out : Path.of("conf", "hardware", "calibrated-" + host + ".conf");
    if (Files.exists(file) && !force) {
      System.err.println("joule: calibrate: " + file + " exists; pass --force to overwrite it");
      return 2;
    }
    HardwareProfile hw = HardwareProfile.detect();
    System.out.printf(Locale.ROOT, "calibrating with %s: %d s idle, then %d s with %d vCPUs busy...%n",
        rapl.describe(), seconds, seconds, hw.vcpus());
    Calibration.Result r = Calibration.run(rapl, hw.vcpus(), Duration.ofSeconds(seconds));
    String conf = r.toProfileConf(hw.cpuModel(), hw.ramBytes() / 1e9, host, LocalDate.now().toString());
    if (file.getParent() != null) {
      Files.createDirectories(file.getParent());
    }
    Files.writeString(file, conf);
    System.out.printf(Locale.ROOT, "idle %.2f W, loaded %.2f W: %.2f-%.2f W per busy vCPU (measured_rapl)%n",
        r.idleWatts(), r.loadedWatts(), r.dynamicWattsPerVcpu(), r.loadedWattsPerVcpu());
    System.out.println("wrote " + file + "; use it with: joule.energy.hardware-profiles.calibrated { include \""
        + file.toAbsolutePath() + "\" }");
    return 0;
  }

  private static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9._-]", "_");
    } catch (IOException e) {
      return "localhost";
    }
  }
}
