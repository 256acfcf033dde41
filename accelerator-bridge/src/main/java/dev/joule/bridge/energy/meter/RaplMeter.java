package dev.joule.bridge.energy.meter;

import dev.joule.bridge.energy.EnergyMethod;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * RAPL through Linux powercap ({@code /sys/class/powercap/intel-rapl:*}, also used for AMD):
 * each socket's {@code package-N} zone counts as {@code cpu}, its {@code dram} subzone (where
 * the platform has one) as {@code dram}. {@code core}, {@code uncore} and {@code psys} are left
 * out: the first two are inside the package, psys overlaps everything.
 *
 * <p>Counters are microjoules that wrap at {@code max_energy_range_uj}. A reading that went
 * down wrapped once; a counter read less often than once per wrap period (minutes at full
 * power) undercounts, so readers read at every partition boundary.
 */
public final class RaplMeter implements EnergyCounter {

  public static final Path POWERCAP = Path.of("/sys/class/powercap");
  private static final Pattern ZONE = Pattern.compile("intel-rapl:\\d+(:\\d+)?");

  record Zone(String dir, String name, String component, Path energyFile, long maxRangeUj) {}

  private final Path root;
  private final List<Zone> zones;
  private final String unavailable;
  private final long[] lastRaw;
  private final long[] totalUj;
  private boolean started;

  private RaplMeter(Path root, List<Zone> zones, String unavailable) {
    this.root = root;
    this.zones = zones;
    this.unavailable = unavailable;
    this.lastRaw = new long[zones.size()];
    this.totalUj = new long[zones.size()];
  }

  /** The RAPL zones under a powercap folder; an unusable folder gives a meter that says why. */
  public static RaplMeter open(Path powercap) {
    if (!Files.isDirectory(powercap)) {
      return new RaplMeter(powercap, List.of(), "no " + powercap + " (no powercap driver: a VM, or a kernel without RAPL support)");
    }
    List<Path> dirs;
    try (Stream<Path> s = Files.list(powercap)) {
      dirs = s.filter(p -> ZONE.matcher(p.getFileName().toString()).matches()).sorted().toList();
    } catch (IOException e) {
      return new RaplMeter(powercap, List.of(), "cannot list " + powercap + ": " + e.getMessage());
    }
    List<Zone> zones = new ArrayList<>();
    for (Path d : dirs) {
      String name = read(d.resolve("name"));
      if (name == null) {
        continue;
      }
      String component = name.startsWith("package-") ? "cpu" : name.equals("dram") ? "dram" : null;
      if (component == null) {
        continue;
      }
      Path energy = d.resolve("energy_uj");
      String raw = read(energy);
      if (raw == null) {
        return new RaplMeter(powercap, List.of(), "RAPL zone " + d.getFileName() + " (" + name
            + "): " + energy + " is not readable by this user (root-only since Linux 5.10, "
            + "CVE-2020-8694); grant read access to measure energy");
      }
      String range = read(d.resolve("max_energy_range_uj"));
      long max;
      try {
        Long.parseLong(raw);
        max = range == null ? -1 : Long.parseLong(range);
      } catch (NumberFormatException e) {
        return new RaplMeter(powercap, List.of(), "RAPL zone " + d.getFileName() + ": unreadable counter '" + raw + "'");
      }
      if (max <= 0) {
        return new RaplMeter(powercap, List.of(), "RAPL zone " + d.getFileName()
            + ": no max_energy_range_uj, so a counter wrap could not be told from a reset");
      }
      zones.add(new Zone(d.getFileName().toString(), name, component, energy, max));
    }
    if (zones.stream().noneMatch(z -> z.component().equals("cpu"))) {
      return new RaplMeter(powercap, List.of(), "no RAPL package zones under " + powercap
          + " (a VM, or a CPU without RAPL)");
    }
    return new RaplMeter(powercap, List.copyOf(zones), null);
  }

  /** The machine's RAPL zones. */
  public static RaplMeter open() {
    return open(POWERCAP);
  }

  private static String read(Path p) {
    try {
      return Files.readString(p).trim();
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  @Override
  public String name() {
    return "rapl";
  }

  @Override
  public EnergyMethod method() {
    return EnergyMethod.MEASURED_RAPL;
  }

  @Override
  public String unavailableReason() {
    return unavailable;
  }

  @Override
  public String describe() {
    if (unavailable != null) {
      return "RAPL unavailable: " + unavailable;
    }
    StringBuilder s = new StringBuilder("RAPL under ").append(root).append(':');
    for (Zone z : zones) {
      s.append(' ').append(z.name()).append('→').append(z.component());
    }
    return s.toString();
  }

  @Override
  public synchronized Map<String, Double> readJoules() {
    if (unavailable != null) {
      throw new IllegalStateException(describe());
    }
    for (int i = 0; i < zones.size(); i++) {
      Zone z = zones.get(i);
      String raw = read(z.energyFile());
      if (raw == null) {
        throw new IllegalStateException("RAPL zone " + z.dir() + " could not be read: " + z.energyFile());
      }
      long now = Long.parseLong(raw);
      if (started) {
        long delta = now - lastRaw[i];
        if (delta < 0) {
          // Wrapped once: the counter went from lastRaw up to max, then from 0 to now.
          delta += z.maxRangeUj() + 1;
        }
        totalUj[i] += delta;
      }
      lastRaw[i] = now;
    }
    started = true;
    Map<String, Double> joules = new LinkedHashMap<>();
    for (int i = 0; i < zones.size(); i++) {
      joules.merge(zones.get(i).component(), totalUj[i] / 1e6, Double::sum);
    }
    return joules;
  }
}
