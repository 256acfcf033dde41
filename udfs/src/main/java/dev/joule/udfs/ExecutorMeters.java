package dev.joule.udfs;

import dev.joule.bridge.energy.meter.EnergyCounter;
import dev.joule.bridge.energy.meter.EnergyLedger;
import dev.joule.bridge.energy.meter.NvmlMeter;
import dev.joule.bridge.energy.meter.RaplMeter;
import java.nio.file.Path;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The measured meter of this executor JVM, opened once and shared by its tasks: RAPL when the
 * machine exposes readable powercap zones, with one {@link EnergyLedger} that shares each reading
 * among the partitions running at once by thread CPU time. GPUs are only probed here (their names
 * go into the energy rows); nothing measures GPU energy yet.
 *
 * <p>{@code joule.energy.meter}: {@code auto} (RAPL where readable, else estimates only),
 * {@code rapl} (a task fails with the reason when RAPL cannot be read) or {@code estimate}
 * (never measure). The system property {@code joule.energy.powercap} points at another powercap
 * folder.
 */
public final class ExecutorMeters {

  public static final String POWERCAP_PROPERTY = "joule.energy.powercap";
  private static final long SAMPLE_SECONDS = 5;
  private static final Logger LOG = LoggerFactory.getLogger(ExecutorMeters.class);

  private static volatile EnergyLedger ledger;
  private static volatile EnergyCounter counter;
  private static volatile String gpu;

  private ExecutorMeters() {}

  /** The ledger to attribute RAPL readings with, or null when energy is estimated only. */
  public static EnergyLedger ledger(String mode) {
    String m = mode.toLowerCase(Locale.ROOT);
    switch (m) {
      case "estimate":
        return null;
      case "auto":
      case "rapl":
        break;
      default:
        throw new IllegalArgumentException("joule.energy.meter must be auto, rapl or estimate, got '" + mode + "'");
    }
    EnergyCounter meter = meter();
    if (!meter.available()) {
      if (m.equals("rapl")) {
        throw new IllegalStateException("joule.energy.meter = rapl, but this executor cannot read it: "
            + meter.describe());
      }
      return null;
    }
    EnergyLedger l = ledger;
    if (l == null) {
      synchronized (ExecutorMeters.class) {
        l = ledger;
        if (l == null) {
          l = new EnergyLedger(meter, EnergyLedger.Rule.CPU_TIME_SHARE, EnergyLedger.CpuClock.jvm());
          ledger = l;
          if (meter instanceof RaplMeter) {
            startSampler(meter); // RAPL wraps; other counters (NVML's 64-bit one, tests') do not
          }
        }
      }
    }
    return l;
  }

  /**
   * Reads the counter every few seconds in the background. The ledger reads it only at partition
   * edges, and RAPL can wrap more than once during a long partition (a small
   * max_energy_range_uj at high power); a reading per wrap period is enough to count every wrap.
   */
  private static void startSampler(EnergyCounter meter) {
    java.util.concurrent.ScheduledExecutorService s = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "joule-energy-sampler");
      t.setDaemon(true);
      return t;
    });
    s.scheduleWithFixedDelay(() -> {
      if (counter != meter) {
        s.shutdown(); // replaced (install): stop sampling the old one
        return;
      }
      try {
        meter.readJoules();
      } catch (RuntimeException e) {
        LOG.debug("energy sampler: {}", e.toString());
      }
    }, SAMPLE_SECONDS, SAMPLE_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
  }

  /** This JVM's measured meter (RAPL, available or saying why not), opened on first use. */
  public static EnergyCounter meter() {
    EnergyCounter c = counter;
    if (c == null) {
      synchronized (ExecutorMeters.class) {
        c = counter;
        if (c == null) {
          String folder = System.getProperty(POWERCAP_PROPERTY);
          c = folder == null ? RaplMeter.open() : RaplMeter.open(Path.of(folder));
          LOG.info("energy meter: {}", c.describe());
          counter = c;
        }
      }
    }
    return c;
  }

  /**
   * This host's GPUs as NVML names them ({@code 1× NVIDIA H100 80GB HBM3, driver 550.54.15}), or
   * {@code none found (no NVML: ...)}; probed once per JVM. Recorded in every energy row, so a
   * figure can be traced to a machine with or without a GPU.
   */
  public static String gpu() {
    String g = gpu;
    if (g == null) {
      synchronized (ExecutorMeters.class) {
        g = gpu;
        if (g == null) {
          NvmlMeter nvml = NvmlMeter.open();
          g = nvml.available() ? nvml.gpuModel() + ", driver " + nvml.driverVersion()
              : nvml.gpuModel() != null ? nvml.gpuModel() + " (not measurable: " + nvml.unavailableReason() + ")"
              : "none found (" + nvml.unavailableReason() + ")";
          nvml.close();
          gpu = g;
        }
      }
    }
    return g;
  }

  /**
   * Replaces this JVM's measured meter (null: open RAPL again on next use). For tests, and for a
   * host whose counter Joule does not know how to find by itself.
   */
  public static synchronized void install(EnergyCounter meter) {
    counter = meter;
    ledger = null;
  }
}
