package dev.joule.bridge.energy.meter;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Measures a machine's idle and loaded power with a measured counter (RAPL), to replace the
 * assumed power band of {@code conf/hardware/} by one measured here. Idle: the counter over a
 * quiet interval. Loaded: the counter while every vCPU spins on floating-point work. The profile
 * it writes charges busy vCPUs between their dynamic power alone (low) and their share of the
 * whole package (high).
 */
public final class Calibration {

  /**
   * @param idleWatts package (cpu) power with this process idle
   * @param loadedWatts package power with every vCPU busy
   * @param dramIdleWatts DRAM zone power idle (0 where the platform has no DRAM zone)
   */
  public record Result(String meter, int vcpus, double seconds, double idleWatts, double loadedWatts,
      double dramIdleWatts, double dramLoadedWatts) {

    /** What a busy vCPU adds over idle. */
    public double dynamicWattsPerVcpu() {
      return Math.max(0, loadedWatts - idleWatts) / vcpus;
    }

    /** A busy vCPU's share of the whole loaded package, idle power included. */
    public double loadedWattsPerVcpu() {
      return loadedWatts / vcpus;
    }

    /** A hardware profile for {@code conf/hardware/}, matching this CPU model exactly. */
    public String toProfileConf(String cpuModel, double ramGb, String host, String date) {
      double low = Math.max(dynamicWattsPerVcpu(), 1e-3);
      double high = Math.max(low, loadedWattsPerVcpu());
      boolean dramZone = dramLoadedWatts > 0 && ramGb > 0;
      double dramPerGb = dramZone ? dramLoadedWatts / ramGb : 0.392;
      String dramSource = dramZone ? "measured DRAM zone, loaded" : "no DRAM zone: Cloud Carbon Footprint 0.392 W/GB";
      StringBuilder s = new StringBuilder();
      s.append(String.format(Locale.ROOT, "# Written by `joule calibrate` on %s, %s, with %s over %.0f s per phase.%n",
          host, date, meter, seconds));
      s.append(String.format(Locale.ROOT, "# Measured: idle package %.2f W, loaded package %.2f W (%d vCPUs busy); "
          + "DRAM idle %.2f W, loaded %.2f W.%n", idleWatts, loadedWatts, vcpus, dramIdleWatts, dramLoadedWatts));
      s.append("# low = what a busy vCPU adds over idle; high = its share of the loaded package; typical: midway.\n");
      s.append("match = ").append(hocon(java.util.regex.Pattern.quote(cpuModel))).append('\n');
      s.append("generic = false\n");
      s.append("source = ").append(hocon("joule calibrate, " + host + ", " + date + " (" + dramSource + ")")).append('\n');
      s.append(String.format(Locale.ROOT, "cpu.watts-per-vcpu { low = %.3f, typical = %.3f, high = %.3f }%n",
          low, (low + high) / 2, high));
      s.append(String.format(Locale.ROOT, "dram.watts-per-gb = %.4f%n", dramPerGb));
      return s.toString();
    }

    /** A HOCON quoted string. */
    private static String hocon(String v) {
      return '"' + v.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
    }
  }

  private Calibration() {}

  /** Measures idle, then loaded, each for {@code phase}. */
  public static Result run(EnergyCounter counter, int vcpus, Duration phase) throws InterruptedException {
    if (!counter.available()) {
      throw new IllegalStateException(counter.describe());
    }
    double seconds = phase.toNanos() / 1e9;
    Map<String, Double> a = counter.readJoules();
    long t0 = System.nanoTime();
    Thread.sleep(phase.toMillis());
    Map<String, Double> b = counter.readJoules();
    double idleS = (System.nanoTime() - t0) / 1e9;
    long deadline = System.nanoTime() + phase.toNanos();
    List<Thread> spinners = new ArrayList<>();
    for (int i = 0; i < vcpus; i++) {
      Thread t = new Thread(() -> spin(deadline), "joule-calibrate-" + i);
      t.setDaemon(true);
      spinners.add(t);
    }
    Map<String, Double> c = counter.readJoules();
    long t1 = System.nanoTime();
    spinners.forEach(Thread::start);
    for (Thread t : spinners) {
      t.join();
    }
    Map<String, Double> d = counter.readJoules();
    double loadS = (System.nanoTime() - t1) / 1e9;
    return new Result(counter.name(), vcpus, seconds,
        watts(a, b, "cpu", idleS), watts(c, d, "cpu", loadS),
        watts(a, b, "dram", idleS), watts(c, d, "dram", loadS));
  }

  private static double watts(Map<String, Double> before, Map<String, Double> after, String component, double s) {
    return before.containsKey(component) ? (after.get(component) - before.get(component)) / s : 0;
  }

  /** Floating-point work the JIT cannot remove, until the deadline. */
  private static void spin(long deadline) {
    double x = 1.0001;
    long n = 0;
    while (System.nanoTime() < deadline) {
      for (int i = 0; i < 10_000; i++) {
        x = x * 1.0000001 + 1e-9;
      }
      n++;
    }
    if (x == n) {
      System.out.print(""); // keeps x alive
    }
  }
}
