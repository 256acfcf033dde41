package dev.joule.bridge.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.EnergyMethod;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.bridge.energy.meter.FakeNvmlCounter;
import dev.joule.bridge.energy.meter.IdlePower;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** A node's figures per batch: its CPU estimate always, a measured GPU's share by rows with idle apart. */
class NodeEnergyTest {

  /** A GPU counter and a wall clock moved by hand: {@code watts} while time passes. */
  static final class FakeGpu extends FakeNvmlCounter {
    double joules;
    long wall;
    boolean broken;

    void run(double seconds, double watts) {
      wall += (long) (seconds * 1e9);
      joules += seconds * watts;
    }

    @Override
    public Map<String, Double> readJoules() {
      if (broken) {
        throw new IllegalStateException("NVML energy of GPU 0 failed with NVML error 999");
      }
      return Map.of("gpu", joules);
    }

    @Override
    public String describe() {
      return "fake GPU";
    }

    @Override
    public long wallNanos() {
      return wall;
    }
  }

  static final PowerProfile PROFILE = PowerProfile.choose(PowerProfile.bundled(), "unknown");

  static double sum(List<EnergyFigure> f, String component) {
    return f.stream().filter(x -> x.component().equals(component)).mapToDouble(EnergyFigure::joules).sum();
  }

  @Test
  void withoutACounterABatchCarriesTheNodesCpuEstimateOnly() {
    NodeEnergy e = NodeEnergy.estimated(PROFILE);
    try (NodeEnergy.Stream s = e.openStream(true)) {
      s.arrived(100);
      List<EnergyFigure> f = s.scored(1_000_000_000L, true);
      assertEquals(1, f.size());
      assertEquals("node_cpu", f.get(0).component());
      assertEquals(EnergyMethod.ESTIMATED_CPUTIME, f.get(0).method());
      assertTrue(f.get(0).joules() > 0);
    }
    assertFalse(e.measuring());
  }

  @Test
  void aStreamsBatchesAreChargedBackToBackWithTheIdleDrawApart() {
    FakeGpu gpu = new FakeGpu();
    NodeEnergy e = NodeEnergy.measured(PROFILE, gpu, new IdlePower(Map.of("gpu", 100.0)), gpu);
    List<EnergyFigure> all = new ArrayList<>();
    try (NodeEnergy.Stream s = e.openStream(true)) {
      gpu.run(0.5, 100);                      // waiting for the first batch: idle draw
      s.arrived(1000);
      gpu.run(0.1, 400);                      // scoring it
      List<EnergyFigure> first = s.scored(1_000, true);
      assertEquals(50 + 10, sum(first, "gpu_idle"), 1e-9);
      assertEquals(30, sum(first, "gpu"), 1e-9);
      // its own scoring exclusive; the wait before it (no rows yet) is the rest it carries
      assertEquals(40, first.stream().filter(f -> f.attribution().equals("exclusive") && f.method().measured())
          .mapToDouble(EnergyFigure::joules).sum(), 1e-9);
      assertEquals(50, first.stream().filter(f -> f.attribution().equals("unattributed"))
          .mapToDouble(EnergyFigure::joules).sum(), 1e-9);
      all.addAll(first);
      gpu.run(0.2, 100);
      s.arrived(1000);
      gpu.run(0.1, 300);
      all.addAll(s.scored(1_000, true));
      gpu.run(1.0, 100);                      // the wait after the last batch: nobody's
    }
    assertEquals(50 + 40 + 20 + 30, sum(all, "gpu") + sum(all, "gpu_idle"), 1e-9,
        "every joule between the stream's start and its last batch");
  }

  @Test
  void concurrentStreamsShareByRowsAndAddUpToTheCounter() {
    Random rnd = new Random(5);
    for (int trial = 0; trial < 100; trial++) {
      FakeGpu gpu = new FakeGpu();
      NodeEnergy e = NodeEnergy.measured(PROFILE, gpu, new IdlePower(Map.of("gpu", 129.0)), gpu);
      List<NodeEnergy.Stream> streams = new ArrayList<>();
      List<Boolean> arrived = new ArrayList<>();
      List<EnergyFigure> all = new ArrayList<>();
      double measuredWhileScoring = 0;
      int batches = 0;
      for (int step = 0; step < 80; step++) {
        int op = rnd.nextInt(4);
        if (streams.isEmpty() || (op == 0 && streams.size() < 4)) {
          streams.add(e.openStream(true));
          arrived.add(false);
        } else {
          int i = rnd.nextInt(streams.size());
          if (!arrived.get(i)) {
            streams.get(i).arrived(1 + rnd.nextInt(8192));
            arrived.set(i, true);
          } else {
            List<EnergyFigure> f = streams.get(i).scored(rnd.nextInt(1_000_000), true);
            assertTrue(f.stream().anyMatch(x -> x.method().measured()), "every batch says it was measured");
            all.addAll(f);
            batches++;
            arrived.set(i, false);
            if (rnd.nextInt(3) == 0) {
              streams.remove(i).close();
              arrived.remove(i);
            }
          }
        }
        double seconds = rnd.nextDouble() * 0.01;
        double before = gpu.joules;
        gpu.run(seconds, 129 + rnd.nextDouble() * 500);
        if (arrived.contains(true)) {
          measuredWhileScoring += gpu.joules - before; // a batch with rows was on the device
        }
      }
      for (int i = 0; i < streams.size(); i++) {
        if (arrived.get(i)) {
          all.addAll(streams.get(i).scored(1, true));
          batches++;
        }
        streams.get(i).close();
      }
      double recorded = sum(all, "gpu") + sum(all, "gpu_idle");
      assertTrue(recorded <= gpu.joules + 1e-6, "never more than the counter measured: trial " + trial);
      assertTrue(recorded >= measuredWhileScoring - 1e-6,
          "at least what the device used while a batch was on it: trial " + trial);
      assertTrue(all.stream().allMatch(f -> f.joules() >= 0));
      assertEquals(batches, all.stream().filter(f -> f.component().equals("node_cpu")).count());
    }
  }

  @Test
  void aCounterThatFailsLeavesEstimatesOnlyAndSaysSo() {
    FakeGpu gpu = new FakeGpu();
    NodeEnergy e = NodeEnergy.measured(PROFILE, gpu, IdlePower.NONE, gpu);
    try (NodeEnergy.Stream s = e.openStream(true)) {
      s.arrived(10);
      gpu.run(1, 200);
      assertEquals(200, sum(s.scored(5, true), "gpu"), 1e-9);
      gpu.broken = true;
      s.arrived(10);
      List<EnergyFigure> f = s.scored(5, true);
      assertEquals(List.of("node_cpu"), f.stream().map(EnergyFigure::component).toList());
      assertFalse(e.measuring());
      assertTrue(e.describe().contains("measurement lost"), e.describe());
      s.arrived(10);
      assertEquals(1, s.scored(5, true).size(), "estimates only from then on");
    }
  }

  @Test
  void batchesOffTheMeteredDeviceCarryEstimatesAndNoShare() {
    FakeGpu gpu = new FakeGpu();
    NodeEnergy e = NodeEnergy.measured(PROFILE, gpu, IdlePower.NONE, gpu);
    try (NodeEnergy.Stream cpuStream = e.openStream(false)) {
      cpuStream.arrived(100);
      gpu.run(1, 300);
      assertEquals(List.of("node_cpu"), cpuStream.scored(5, false).stream().map(EnergyFigure::component).toList());
    }
    List<EnergyFigure> all = new ArrayList<>();
    try (NodeEnergy.Stream s = e.openStream(true)) {
      s.arrived(100);
      gpu.run(1, 200);
      List<EnergyFigure> offDevice = s.scored(5, false); // a batch the GPU declined
      assertEquals(List.of("node_cpu"), offDevice.stream().map(EnergyFigure::component).toList());
      s.arrived(100);
      gpu.run(1, 200);
      all.addAll(s.scored(5, true));
    }
    // The declined batch's share went back to the rest; with no other batch on the GPU to carry
    // it, it is dropped: the GPU's draw while the CPU scored is no GPU batch's.
    assertEquals(200, sum(all, "gpu"), 1e-9);
  }
}
