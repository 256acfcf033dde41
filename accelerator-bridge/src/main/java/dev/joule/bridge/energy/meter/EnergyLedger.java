package dev.joule.bridge.energy.meter;

import dev.joule.bridge.energy.EnergyFigure;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Shares a whole-device counter ({@link EnergyCounter}) among the spans of work that overlap on
 * it: the partitions running at once in an executor (by thread CPU time), or the batches a node
 * scores at once (by rows).
 *
 * <p>The counter is read at every span's start and end. Between two readings the set of open
 * spans is fixed, and the energy of that segment is split:
 * <ul>
 *   <li>{@code cpu_time_share}: span i gets ΔE × Δcpu(thread i) / Δcpu(process). What the other
 *       threads of the JVM (GC, Spark's own) and the rest of the socket used stays unattributed;
 *   <li>{@code rows_share}: span i gets ΔE × rows(i) / Σ rows(open spans).
 * </ul>
 * The unattributed rest is kept per ledger (one per executor and counter) and handed to the next
 * span that ends, as a figure with attribution {@code unattributed}, so the figures of all spans
 * add up to what the counter measured while any span was open. A span abandoned by a failed task
 * gives its share back to the rest. Time with no span open is not counted: idle energy between
 * jobs belongs to nobody's work.
 *
 * <p>With an {@link IdlePower}, each segment's energy of a component is first split into what the
 * device drew idle over it, recorded as component {@code <component>_idle}, and the rest above
 * idle, recorded as the component itself; both are shared by the same rule, and the two add up to
 * what was measured. A counter that moves in steps (NVML's can be longer than a batch) reads 0 J
 * over short segments and then jumps: the idle energy of the segments it missed is owed and
 * taken from the next energy it shows, up to {@link #MAX_OWED_IDLE_SECONDS} of idle draw.
 */
public final class EnergyLedger {

  /** How a segment's energy is split among the spans open in it. */
  public enum Rule {
    CPU_TIME_SHARE("cpu_time_share"),
    ROWS_SHARE("rows_share");

    private final String label;

    Rule(String label) {
      this.label = label;
    }

    public String label() {
      return label;
    }
  }

  /** CPU clocks; the real one reads the JVM's threads, tests use their own. */
  public interface CpuClock {
    long threadCpuNanos(long threadId);

    long processCpuNanos();

    /** A monotonic wall clock, for the idle part of a segment. */
    default long wallNanos() {
      return System.nanoTime();
    }

    static CpuClock jvm() {
      ThreadMXBean threads = ManagementFactory.getThreadMXBean();
      com.sun.management.OperatingSystemMXBean os =
          (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
      return new CpuClock() {
        @Override
        public long threadCpuNanos(long threadId) {
          return Math.max(0, threads.getThreadCpuTime(threadId));
        }

        @Override
        public long processCpuNanos() {
          return Math.max(0, os.getProcessCpuTime());
        }
      };
    }
  }

  private static final class Span {
    final long threadId;
    long rows;
    long lastThreadCpu;
    boolean shared;
    final Map<String, Double> joules = new TreeMap<>();

    Span(long threadId, long rows) {
      this.threadId = threadId;
      this.rows = rows;
    }
  }

  private final EnergyCounter counter;
  private final Rule rule;
  private final CpuClock clock;
  private final IdlePower idle;
  /**
   * The most idle draw carried to later segments, in seconds: longer than any counter's update
   * step, short enough that an idle figure measured too high cannot swallow real work for long.
   */
  static final double MAX_OWED_IDLE_SECONDS = 1.0;

  private final Map<Long, Span> open = new LinkedHashMap<>();
  private final Map<String, Double> idleOwed = new TreeMap<>();
  private final Map<String, Double> rest = new TreeMap<>();
  private Map<String, Double> lastJoules;
  private long lastProcessCpu;
  private long lastWall;
  private long nextId;
  private double dropped;

  public EnergyLedger(EnergyCounter counter, Rule rule, CpuClock clock) {
    this(counter, rule, clock, IdlePower.NONE);
  }

  /** @param idle the device's idle draw, recorded apart from the energy above it */
  public EnergyLedger(EnergyCounter counter, Rule rule, CpuClock clock, IdlePower idle) {
    if (!counter.available()) {
      throw new IllegalArgumentException("counter " + counter.name() + " is unavailable: " + counter.unavailableReason());
    }
    this.counter = counter;
    this.rule = rule;
    this.clock = clock;
    this.idle = idle;
  }

  public EnergyCounter counter() {
    return counter;
  }

  /**
   * Opens a span on the calling thread.
   *
   * @param rows the span's weight under {@link Rule#ROWS_SHARE}; ignored otherwise
   * @return the span's id, for {@link #end}
   */
  public long begin(long rows) {
    return begin(Thread.currentThread().getId(), rows);
  }

  /** Opens a span whose work runs on thread {@code threadId}. */
  public synchronized long begin(long threadId, long rows) {
    advance();
    long id = nextId++;
    Span s = new Span(threadId, rows);
    s.lastThreadCpu = clock.threadCpuNanos(s.threadId);
    if (!open.isEmpty()) {
      s.shared = true;
      open.values().forEach(o -> o.shared = true);
    }
    open.put(id, s);
    return id;
  }

  /**
   * Sets an open span's weight under {@link Rule#ROWS_SHARE} from now on, for a span opened before
   * its rows were known (a node's span opens while it waits for the next batch): the counter is
   * read first, so what was used before is shared by the weights of then (with none, it goes to
   * the unattributed rest).
   *
   * @throws IllegalStateException if the counter cannot be read (the span stays open)
   */
  public synchronized void weigh(long id, long rows) {
    Span s = open.get(id);
    if (s == null) {
      throw new IllegalArgumentException("no open energy span " + id);
    }
    advance();
    s.rows = rows;
  }

  /**
   * Closes a span: its share of every segment it was open in, one figure per component (a
   * {@code rows_share} span that never overlapped another is {@code exclusive}), plus the rest
   * not attributed to anyone since the last span ended. The span is closed even when the final
   * reading fails (the exception then propagates and the span's share goes to the rest).
   */
  public synchronized List<EnergyFigure> end(long id) {
    Span s = open.get(id);
    if (s == null) {
      throw new IllegalArgumentException("no open energy span " + id);
    }
    try {
      advance();
    } catch (RuntimeException e) {
      abandon(id);
      throw e;
    }
    open.remove(id);
    List<EnergyFigure> figures = new ArrayList<>();
    String attribution = rule == Rule.ROWS_SHARE && !s.shared ? "exclusive" : rule.label();
    s.joules.forEach((c, j) -> figures.add(new EnergyFigure(c, counter.method(), attribution, j, j, j)));
    rest.forEach((c, j) -> figures.add(new EnergyFigure(c, counter.method(), "unattributed", j, j, j)));
    rest.clear();
    goIdleIfNoneOpen();
    return figures;
  }

  /**
   * Closes a span whose work will not be recorded (a failed or killed task): what it was given
   * goes back to the unattributed rest, for the next span to end. If none is open any more, it
   * is dropped and counted in {@link #droppedJoules()}: the energy of failed work.
   */
  public synchronized void abandon(long id) {
    Span s = open.remove(id);
    if (s == null) {
      return;
    }
    try {
      open.put(id, s); // still open for this last reading
      advance();
    } catch (RuntimeException e) {
      // The counter failed: the last interval is lost; keep what was shared so far.
    } finally {
      open.remove(id);
    }
    s.joules.forEach((c, j) -> rest.merge(c, j, Double::sum));
    goIdleIfNoneOpen();
  }

  /** Joules no recorded span could carry: the share of failed spans that ended last. */
  public synchronized double droppedJoules() {
    return dropped;
  }

  private void goIdleIfNoneOpen() {
    if (open.isEmpty()) {
      dropped += rest.values().stream().mapToDouble(Double::doubleValue).sum();
      rest.clear();
      lastJoules = null; // idle from here on is not counted
    }
  }

  /** Reads the counter and splits the energy since the last reading among the open spans. */
  private void advance() {
    Map<String, Double> now = counter.readJoules();
    long proc = clock.processCpuNanos();
    long wall = clock.wallNanos();
    if (lastJoules != null && !open.isEmpty()) {
      Map<Span, Double> weights = new HashMap<>();
      double denominator = 0;
      for (Span s : open.values()) {
        double w;
        if (rule == Rule.CPU_TIME_SHARE) {
          long cpu = clock.threadCpuNanos(s.threadId);
          w = Math.max(0, cpu - s.lastThreadCpu);
          s.lastThreadCpu = cpu;
        } else {
          w = s.rows;
        }
        weights.put(s, w);
        denominator += w;
      }
      if (rule == Rule.CPU_TIME_SHARE) {
        // The process's CPU includes the spans' threads; clocks are sampled at slightly
        // different moments, so never let the spans' sum exceed it.
        denominator = Math.max(denominator, proc - lastProcessCpu);
      }
      double seconds = Math.max(0, wall - lastWall) / 1e9;
      for (Map.Entry<String, Double> e : now.entrySet()) {
        String component = e.getKey();
        double delta = Math.max(0, e.getValue() - lastJoules.getOrDefault(component, e.getValue()));
        double idleWatts = idle.watts(component);
        double owed = Math.min(idleOwed.getOrDefault(component, 0.0), idleWatts * MAX_OWED_IDLE_SECONDS)
            + idleWatts * seconds;
        double idleJ = Math.min(delta, owed);
        idleOwed.put(component, owed - idleJ);
        share(component, delta - idleJ, weights, denominator);
        if (idleWatts > 0) {
          share(IdlePower.idleComponent(component), idleJ, weights, denominator);
        }
      }
    } else {
      for (Span s : open.values()) {
        if (rule == Rule.CPU_TIME_SHARE) {
          s.lastThreadCpu = clock.threadCpuNanos(s.threadId);
        }
      }
    }
    lastJoules = now;
    lastProcessCpu = proc;
    lastWall = wall;
  }

  private void share(String component, double joules, Map<Span, Double> weights, double denominator) {
    double given = 0;
    if (denominator > 0) {
      for (Map.Entry<Span, Double> w : weights.entrySet()) {
        double share = joules * w.getValue() / denominator;
        w.getKey().joules.merge(component, share, Double::sum);
        given += share;
      }
    }
    rest.merge(component, Math.max(0, joules - given), Double::sum);
  }
}
