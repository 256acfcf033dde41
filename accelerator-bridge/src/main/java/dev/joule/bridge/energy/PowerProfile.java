package dev.joule.bridge.energy;

import com.typesafe.config.Config;
import java.io.Serializable;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A per-vCPU power band and DRAM power for one family of CPUs, from {@code conf/hardware/}.
 * These are assumptions with sources, not measurements; every figure made from them is labelled
 * {@code estimated_cputime} and carries the band as low/high bounds.
 */
public record PowerProfile(String name, String match, boolean generic, double cpuWattsLow,
    double cpuWattsTypical, double cpuWattsHigh, double dramWattsPerGb, String source)
    implements Serializable {

  public PowerProfile {
    if (!(cpuWattsLow > 0 && cpuWattsLow <= cpuWattsTypical && cpuWattsTypical <= cpuWattsHigh)) {
      throw new IllegalArgumentException("power profile " + name
          + ": need 0 < low <= typical <= high W per vCPU, got " + cpuWattsLow + ", "
          + cpuWattsTypical + ", " + cpuWattsHigh);
    }
    if (dramWattsPerGb < 0) {
      throw new IllegalArgumentException("power profile " + name + ": dram W/GB must be >= 0");
    }
  }

  public static PowerProfile fromConfig(String name, Config c) {
    return new PowerProfile(name,
        c.hasPath("match") ? c.getString("match") : "",
        c.hasPath("generic") && c.getBoolean("generic"),
        c.getDouble("cpu.watts-per-vcpu.low"),
        c.getDouble("cpu.watts-per-vcpu.typical"),
        c.getDouble("cpu.watts-per-vcpu.high"),
        c.getDouble("dram.watts-per-gb"),
        c.hasPath("source") ? c.getString("source") : "");
  }

  /** Every profile under a {@code hardware-profiles} block, in its order. */
  public static List<PowerProfile> listFrom(Config hardwareProfiles) {
    List<PowerProfile> list = new java.util.ArrayList<>();
    for (String name : hardwareProfiles.root().keySet()) {
      list.add(fromConfig(name, hardwareProfiles.getConfig(name)));
    }
    return list;
  }

  /**
   * The profiles shipped in this jar ({@code joule-conf/energy.conf}, from the repository's
   * {@code conf/}), for a process that has no job config: a standalone accelerator node.
   */
  public static List<PowerProfile> bundled() {
    Config c = com.typesafe.config.ConfigFactory.parseResources(PowerProfile.class.getClassLoader(),
        "joule-conf/energy.conf").resolve();
    if (!c.hasPath("joule.energy.hardware-profiles")) {
      throw new IllegalStateException("joule-conf/energy.conf is missing from the classpath");
    }
    return listFrom(c.getConfig("joule.energy.hardware-profiles"));
  }

  /**
   * The non-generic profile whose {@code match} regex finds the CPU model, the most specific (the
   * longest {@code match}) when several do, so a profile written by {@code joule calibrate} for
   * this exact model wins over a family's; else the generic one (there must be one).
   */
  public static PowerProfile choose(List<PowerProfile> profiles, String cpuModel) {
    PowerProfile fallback = null;
    PowerProfile best = null;
    for (PowerProfile p : profiles) {
      if (p.generic) {
        fallback = fallback == null ? p : fallback;
      } else if (!p.match.isEmpty() && Pattern.compile(p.match).matcher(cpuModel).find()
          && (best == null || p.match.length() > best.match.length())) {
        best = p;
      }
    }
    if (best != null) {
      return best;
    }
    if (fallback == null) {
      throw new IllegalStateException("no hardware profile matches CPU '" + cpuModel
          + "' and none is marked generic");
    }
    return fallback;
  }
}
