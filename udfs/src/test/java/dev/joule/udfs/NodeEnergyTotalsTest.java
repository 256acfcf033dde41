package dev.joule.udfs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.EnergyMethod;
import dev.joule.bridge.node.NodeReading;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A partition's node figures: summed by component, method and attribution; measured only when whole. */
class NodeEnergyTotalsTest {

  static NodeReading reading(EnergyFigure... figures) {
    return new NodeReading("n", "panama", 1, 1, 10, 100, 40, List.of(figures));
  }

  static EnergyFigure cpu(double j) {
    return new EnergyFigure("node_cpu", EnergyMethod.ESTIMATED_CPUTIME, "exclusive", j, j / 2, j * 2);
  }

  static EnergyFigure gpu(String attribution, double j) {
    return new EnergyFigure("gpu", EnergyMethod.MEASURED_NVML, attribution, j, j, j);
  }

  @Test
  void batchesAreSummedPerComponentMethodAndAttribution() {
    NodeEnergyTotals t = new NodeEnergyTotals();
    t.add(reading(cpu(1), gpu("exclusive", 5)));
    t.add(reading(cpu(2), gpu("rows_share", 3), gpu("unattributed", 1)));
    t.add(reading(cpu(3), gpu("rows_share", 4)));
    List<EnergyFigure> f = t.figures();
    assertFalse(t.partlyMeasured());
    assertEquals(4, f.size(), f.toString());
    EnergyFigure c = f.stream().filter(x -> x.component().equals("node_cpu")).findFirst().orElseThrow();
    assertEquals(6, c.joules(), 1e-12);
    assertEquals(3, c.joulesLow(), 1e-12);
    assertEquals(12, c.joulesHigh(), 1e-12);
    assertEquals(7, f.stream().filter(x -> x.attribution().equals("rows_share")).mapToDouble(EnergyFigure::joules).sum(), 1e-12);
  }

  @Test
  void aPartitionMeasuredOnlyInPartKeepsItsEstimatesAndDropsItsMeasurement() {
    NodeEnergyTotals t = new NodeEnergyTotals();
    t.add(reading(cpu(1), gpu("exclusive", 5)));
    t.add(reading(cpu(1))); // a failover to a node without a counter
    assertTrue(t.partlyMeasured());
    assertEquals(List.of("node_cpu"), t.figures().stream().map(EnergyFigure::component).toList());
    assertEquals(2, t.figures().get(0).joules(), 1e-12);

    NodeEnergyTotals fellBack = new NodeEnergyTotals();
    fellBack.add(reading(cpu(1), gpu("exclusive", 5)));
    fellBack.add(reading()); // scored in the executor after every node failed
    assertTrue(fellBack.partlyMeasured());
    assertEquals(List.of("node_cpu"), fellBack.figures().stream().map(EnergyFigure::component).toList());

    NodeEnergyTotals inProcess = new NodeEnergyTotals();
    inProcess.add(reading());
    assertFalse(inProcess.partlyMeasured());
    assertTrue(inProcess.figures().isEmpty());
  }
}
