package dev.joule.bridge.energy;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Facts about the machine doing the work, read from it (not configured): they go into every
 * energy record so a figure can be traced to the hardware it was obtained on.
 *
 * @param gpuModel the GPUs NVML reports with their driver, or "none found (why)"; null: not probed
 */
public record HardwareProfile(String cpuModel, int vcpus, boolean hypervisor, long ramBytes,
    boolean raplAvailable, String gpuModel) implements Serializable {

  private static volatile HardwareProfile detected;

  /** The same facts with the GPUs found (or why none were). */
  public HardwareProfile withGpu(String gpu) {
    return new HardwareProfile(cpuModel, vcpus, hypervisor, ramBytes, raplAvailable, gpu);
  }

  /** The same facts with whether a measured CPU meter could be read (the executor's own answer). */
  public HardwareProfile withRapl(boolean available) {
    return available == raplAvailable ? this
        : new HardwareProfile(cpuModel, vcpus, hypervisor, ramBytes, available, gpuModel);
  }

  /** Reads /proc and /sys once per JVM. Missing files give conservative answers, never errors. */
  public static HardwareProfile detect() {
    HardwareProfile p = detected;
    if (p == null) {
      p = detectFrom(Path.of("/proc/cpuinfo"), Path.of("/proc/meminfo"), Path.of("/sys/class/powercap"),
          Path.of("/sys/fs/cgroup/memory.max"));
      detected = p;
    }
    return p;
  }

  static HardwareProfile detectFrom(Path cpuinfo, Path meminfo, Path powercap) {
    return detectFrom(cpuinfo, meminfo, powercap, null);
  }

  /**
   * @param cgroupMemoryMax a container's memory limit (cgroup v2 {@code memory.max}), which bounds
   *     the memory it holds below the host's; "max" or missing: no limit
   */
  static HardwareProfile detectFrom(Path cpuinfo, Path meminfo, Path powercap, Path cgroupMemoryMax) {
    String model = System.getProperty("os.arch") + " (model not readable)";
    boolean hypervisor = false;
    List<String> lines = readLines(cpuinfo);
    for (String line : lines) {
      if (line.startsWith("model name") && line.contains(":")) {
        model = line.substring(line.indexOf(':') + 1).trim();
        break;
      }
    }
    for (String line : lines) {
      if (line.startsWith("flags") && (" " + line + " ").contains(" hypervisor ")) {
        hypervisor = true;
        break;
      }
    }
    // Without /proc/meminfo, the OS's figure (container-aware), never the JVM's heap.
    long ram = physicalMemory();
    for (String line : readLines(meminfo)) {
      if (line.startsWith("MemTotal:")) {
        ram = Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024L;
        break;
      }
    }
    if (cgroupMemoryMax != null) {
      for (String line : readLines(cgroupMemoryMax)) {
        if (line.trim().matches("[0-9]+")) {
          ram = Math.min(ram, Long.parseLong(line.trim()));
        }
      }
    }
    boolean rapl = false;
    if (Files.isDirectory(powercap)) {
      try (Stream<Path> zones = Files.list(powercap)) {
        rapl = zones.anyMatch(z -> z.getFileName().toString().startsWith("intel-rapl")
            && Files.isReadable(z.resolve("energy_uj")));
      } catch (IOException e) {
        rapl = false;
      }
    }
    return new HardwareProfile(model, Runtime.getRuntime().availableProcessors(), hypervisor, ram,
        rapl, null);
  }

  private static long physicalMemory() {
    if (java.lang.management.ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getTotalMemorySize();
    }
    return 0;
  }

  private static List<String> readLines(Path p) {
    try {
      return Files.readAllLines(p);
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
  }
}
