package dev.joule.bridge.flight;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.EnergyMethod;
import dev.joule.bridge.node.NodeReading;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A batch's reading survives the wire, and a node that sends one energy object is still read. */
class FlightProtocolTest {

  @Test
  void readingsRoundTripWithEveryFigure() {
    NodeReading r = new NodeReading("accel@h:1", "cuda X", 10, 20, 300, 4000, 500, List.of(
        new EnergyFigure("node_cpu", EnergyMethod.ESTIMATED_CPUTIME, "exclusive", 1, 0.5, 2),
        new EnergyFigure("gpu", EnergyMethod.MEASURED_NVML, "rows_share", 3, 3, 3),
        new EnergyFigure("gpu_idle", EnergyMethod.MEASURED_NVML, "unattributed", 4, 4, 4)));
    assertEquals(r, FlightProtocol.parseReading(FlightProtocol.readingJson(r)));
  }

  @Test
  void aSingleEnergyObjectReadsAsOneFigure() {
    String old = "{\"node\":\"n\",\"ops\":\"panama\",\"cpu_ns\":1,\"wall_ns\":2,\"rows\":3,\"bytes_in\":4,\"bytes_out\":5,"
        + "\"energy\":{\"component\":\"node_cpu\",\"method\":\"estimated_cputime\",\"attribution\":\"exclusive\","
        + "\"joules\":1.0,\"joules_low\":0.5,\"joules_high\":2.0}}";
    NodeReading r = FlightProtocol.parseReading(old.getBytes(StandardCharsets.UTF_8));
    assertEquals(List.of(new EnergyFigure("node_cpu", EnergyMethod.ESTIMATED_CPUTIME, "exclusive", 1, 0.5, 2)),
        r.nodeEnergy());
  }
}
