package dev.joule.udfs;

import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.EnergyMethod;
import dev.joule.bridge.node.NodeReading;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A partition's remote-node figures, summed over its batches by component, method and
 * attribution. A measured figure counts only when every batch of the partition was measured: a
 * partition split between a measured node and one without a counter or the executor itself (a
 * failover, the in-process fallback), or whose node lost its counter, would otherwise record a
 * measured total that covers part of its rows. Then its measured figures are left out, and
 * {@link #partlyMeasured()} says so.
 */
final class NodeEnergyTotals {

  private record Key(String component, EnergyMethod method, String attribution) implements Comparable<Key> {
    @Override
    public int compareTo(Key o) {
      return (component + "|" + method + "|" + attribution).compareTo(o.component + "|" + o.method + "|" + o.attribution);
    }
  }

  private final Map<Key, double[]> sums = new TreeMap<>();
  private long batches;
  private long measuredBatches;

  void add(NodeReading reading) {
    batches++;
    if (reading.nodeEnergy().isEmpty()) {
      return; // scored in this JVM: the task's own CPU holds it
    }
    if (reading.measured()) {
      measuredBatches++;
    }
    for (EnergyFigure f : reading.nodeEnergy()) {
      double[] s = sums.computeIfAbsent(new Key(f.component(), f.method(), f.attribution()), k -> new double[3]);
      s[0] += f.joules();
      s[1] += f.joulesLow();
      s[2] += f.joulesHigh();
    }
  }

  /** Some of the partition's batches were measured and some were not. */
  boolean partlyMeasured() {
    return measuredBatches > 0 && measuredBatches < batches;
  }

  /** The partition's node figures, one per component, method and attribution. */
  List<EnergyFigure> figures() {
    List<EnergyFigure> out = new ArrayList<>();
    boolean keepMeasured = !partlyMeasured();
    sums.forEach((k, s) -> {
      if (keepMeasured || !k.method().measured()) {
        out.add(new EnergyFigure(k.component(), k.method(), k.attribution(), s[0], s[1], s[2]));
      }
    });
    return out;
  }
}
