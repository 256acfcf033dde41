package dev.joule.bridge.node;

import dev.joule.bridge.energy.CpuTimeEstimator;
import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.bridge.energy.meter.EnergyCounter;
import dev.joule.bridge.energy.meter.EnergyLedger;
import dev.joule.bridge.energy.meter.IdlePower;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A remote node's energy figures for the batches it scores. Always: the node thread's CPU time as
 * an estimate (component {@code node_cpu}). Where the node has a measured counter (a GPU's NVML):
 * that counter's energy, shared among the batches in flight by their rows ({@code rows_share};
 * {@code exclusive} when no other batch's span was open), with the idle draw recorded apart
 * ({@code gpu} above idle, {@code gpu_idle}) and the unattributed rest handed on, as
 * {@link EnergyLedger} does.
 *
 * <p>A stream's batches are charged without gaps: a batch's span opens when the node starts
 * waiting for it, weighs its rows once it arrives, and closes when it is scored. What the device
 * used while no open batch had rows (a node waiting for the network) is the unattributed rest,
 * carried by the next batch to end, so the device's energy while clients stream to the node is in
 * some batch's figures. If the counter fails, the node stops measuring (it says so
 * once) and carries on with estimates: {@link #measuring()} turns false.
 */
public final class NodeEnergy {

  private static final Logger LOG = LoggerFactory.getLogger(NodeEnergy.class);

  private final PowerProfile profile;
  private final EnergyLedger ledger;
  private final Set<String> components;
  private final String description;
  private volatile boolean lost;

  private NodeEnergy(PowerProfile profile, EnergyLedger ledger, Set<String> components, String description) {
    this.profile = profile;
    this.ledger = ledger;
    this.components = components;
    this.description = description;
  }

  /** Estimates only: the node's CPU time on its power profile. */
  public static NodeEnergy estimated(PowerProfile profile) {
    return new NodeEnergy(profile, null, Set.of(), "estimated from the node's CPU time (" + profile.name() + ")");
  }

  /**
   * Estimates and a measured counter shared by rows.
   *
   * @param counter available; read around every batch
   * @param clock wall and CPU clocks (tests move their own)
   */
  public static NodeEnergy measured(PowerProfile profile, EnergyCounter counter, IdlePower idle,
      EnergyLedger.CpuClock clock) {
    Set<String> components = new TreeSet<>(counter.readJoules().keySet());
    for (String c : List.copyOf(components)) {
      if (idle.watts(c) > 0) {
        components.add(IdlePower.idleComponent(c));
      }
    }
    return new NodeEnergy(profile, new EnergyLedger(counter, EnergyLedger.Rule.ROWS_SHARE, clock, idle),
        Set.copyOf(components), counter.describe() + ", shared by rows, idle " + idle.describe() + " apart");
  }

  /** Whether batches are being measured now. */
  public boolean measuring() {
    return ledger != null && !lost;
  }

  /** For logs and the node's health answer. */
  public String describe() {
    return lost ? description + " (measurement lost: the counter failed)" : description;
  }

  /**
   * The spans of one scoring stream; used by one thread at a time, closed when the stream ends.
   *
   * @param metered whether the stream's kernel runs on the device the counter measures: a stream
   *     scored on the CPU beside a measured GPU carries estimates only
   */
  public Stream openStream(boolean metered) {
    return new Stream(metered);
  }

  /** One stream's batches, charged back to back. */
  public final class Stream implements AutoCloseable {

    private final boolean metered;
    private long span = -1;

    private Stream(boolean metered) {
      this.metered = metered;
      open();
    }

    private void open() {
      if (metered && measuring()) {
        try {
          span = ledger.begin(0);
        } catch (RuntimeException e) {
          lose(e);
        }
      }
    }

    /** A batch of {@code rows} arrived: it weighs that much in the span that waited for it. */
    public void arrived(int rows) {
      if (span >= 0) {
        try {
          ledger.weigh(span, rows);
        } catch (RuntimeException e) {
          ledger.abandon(span);
          span = -1;
          lose(e);
        }
      }
    }

    /**
     * The batch was scored: its figures (the estimate, and the measured share while the counter
     * works), then the next batch's span opens.
     *
     * @param onMeteredDevice whether the batch ran on the measured device; where it did not (a
     *     batch of another precision routed to the CPU), its span gives its share back to the rest
     *     and it carries the estimate only
     */
    public List<EnergyFigure> scored(long cpuNanos, boolean onMeteredDevice) {
      List<EnergyFigure> figures = new ArrayList<>();
      EnergyFigure cpu = CpuTimeEstimator.cpu(cpuNanos, profile);
      figures.add(new EnergyFigure("node_cpu", cpu.method(), "exclusive", cpu.joules(), cpu.joulesLow(),
          cpu.joulesHigh()));
      if (span >= 0 && !onMeteredDevice) {
        ledger.abandon(span);
        span = -1;
        open();
      } else if (span >= 0) {
        long closing = span;
        span = -1;
        try {
          List<EnergyFigure> measured = ledger.end(closing);
          figures.addAll(measured);
          // A batch that got no segment still says it was measured: a zero share, not absent.
          for (String c : components) {
            if (measured.stream().noneMatch(f -> f.component().equals(c))) {
              figures.add(new EnergyFigure(c, ledger.counter().method(), EnergyLedger.Rule.ROWS_SHARE.label(), 0, 0, 0));
            }
          }
        } catch (RuntimeException e) {
          lose(e);
        }
        open();
      }
      return figures;
    }

    /** The stream ended: the wait after its last batch goes to the unattributed rest. */
    @Override
    public void close() {
      if (span >= 0) {
        ledger.abandon(span);
        span = -1;
      }
    }
  }

  private void lose(RuntimeException e) {
    if (!lost) {
      lost = true;
      LOG.error("node energy counter failed; batches from now on carry estimates only: {}", e.toString());
    }
  }
}
