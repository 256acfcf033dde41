package dev.joule.bridge.energy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.EnergyMethod;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Attribution of a whole-device counter: shares plus the unattributed rest add up to what was measured. */
class EnergyLedgerTest {

  /** A counter and CPU clocks the test moves by hand. */
  static class Device extends FakeRaplCounter implements EnergyLedger.CpuClock {
    double cpuJ;
    double dramJ;
    final Map<Long, Long> threadCpu = new HashMap<>();
    long processCpu;
    long wall;

    @Override
    public long wallNanos() {
      return wall;
    }

    @Override
    public Map<String, Double> readJoules() {
      return Map.of("cpu", cpuJ, "dram", dramJ);
    }

    @Override
    public long threadCpuNanos(long threadId) {
      return threadCpu.getOrDefault(threadId, 0L);
    }

    @Override
    public long processCpuNanos() {
      return processCpu;
    }

    void work(double joules, long processNanos, long... threadAndNanos) {
      cpuJ += joules;
      dramJ += joules / 10;
      processCpu += processNanos;
      for (int i = 0; i < threadAndNanos.length; i += 2) {
        threadCpu.merge(threadAndNanos[i], threadAndNanos[i + 1], Long::sum);
      }
    }
  }

  static double sum(List<EnergyFigure> f, String component, String attribution) {
    return f.stream().filter(x -> x.component().equals(component)
        && (attribution == null || x.attribution().equals(attribution))).mapToDouble(EnergyFigure::joules).sum();
  }

  @Test
  void overlappingPartitionsShareByThreadCpuAndTheRestIsKept() {
    Device d = new Device();
    EnergyLedger ledger = new EnergyLedger(d, EnergyLedger.Rule.CPU_TIME_SHARE, d);
    d.work(100, 0);                           // idle before: belongs to nobody
    long a = ledger.begin(1, 0);
    d.work(10, 1_000, 1, 800);                // A alone: 8 J to A, 2 J rest (other threads)
    long b = ledger.begin(2, 0);
    d.work(20, 1_000, 1, 500, 2, 300);        // A 10 J, B 6 J, rest 4 J
    List<EnergyFigure> fa = ledger.end(a);
    assertEquals(18, sum(fa, "cpu", "cpu_time_share"), 1e-9);
    assertEquals(6, sum(fa, "cpu", "unattributed"), 1e-9, "the rest so far goes with the first span to end");
    assertEquals(1.8, sum(fa, "dram", "cpu_time_share"), 1e-9);
    d.work(10, 500, 2, 500);                  // B alone: all 10 J
    List<EnergyFigure> fb = ledger.end(b);
    assertEquals(16, sum(fb, "cpu", "cpu_time_share"), 1e-9, "B overlapped A, so its rule is the share");
    assertEquals(0, sum(fb, "cpu", "unattributed"), 1e-9);
    d.work(1000, 0);                          // idle after
    assertEquals(40, sum(fa, "cpu", null) + sum(fb, "cpu", null), 1e-9, "busy energy, all of it");
    fa.forEach(f -> assertEquals(EnergyMethod.MEASURED_RAPL, f.method()));

    long c = ledger.begin(1, 0);
    d.work(5, 1_000, 1, 1_000);
    List<EnergyFigure> fc = ledger.end(c);
    assertEquals(5, sum(fc, "cpu", "cpu_time_share"), 1e-9,
        "alone, and all the process's CPU: all of it, still as a CPU-time share of a shared socket");
    assertThrows(IllegalArgumentException.class, () -> ledger.end(c));
  }

  @Test
  void aFailedSpanGivesItsShareBackAndAFailingReadStillClosesTheSpan() {
    Device d = new Device();
    EnergyLedger ledger = new EnergyLedger(d, EnergyLedger.Rule.CPU_TIME_SHARE, d);
    long a = ledger.begin(1, 0);
    long b = ledger.begin(2, 0);
    d.work(20, 1_000, 1, 500, 2, 500);        // 10 J each
    ledger.abandon(a);                         // A's task failed
    d.work(4, 500, 2, 500);
    List<EnergyFigure> fb = ledger.end(b);
    assertEquals(14, sum(fb, "cpu", "cpu_time_share"), 1e-9);
    assertEquals(10, sum(fb, "cpu", "unattributed"), 1e-9, "A's share reaches the log through B");
    assertEquals(0, ledger.droppedJoules(), 1e-12);

    long c = ledger.begin(1, 0);
    d.work(7, 1_000, 1, 1_000);
    ledger.abandon(c);                         // alone and failed: nobody can carry it
    assertEquals(7 + 7 / 10.0, ledger.droppedJoules(), 1e-9, "cpu and dram of the failed span");

    Device broken = new Device() {
      int reads;

      @Override
      public Map<String, Double> readJoules() {
        if (++reads == 3) {
          throw new IllegalStateException("counter gone");
        }
        return super.readJoules();
      }
    };
    EnergyLedger l2 = new EnergyLedger(broken, EnergyLedger.Rule.CPU_TIME_SHARE, broken);
    long x = l2.begin(1, 0);
    long y = l2.begin(2, 0);
    assertThrows(IllegalStateException.class, () -> l2.end(x));
    assertThrows(IllegalArgumentException.class, () -> l2.end(x), "the failed end closed the span");
    broken.work(3, 1_000, 2, 1_000);
    assertEquals(3, sum(l2.end(y), "cpu", null), 1e-9, "the ledger goes on for the others");
  }

  @Test
  void batchesOnAGpuShareByRows() {
    Device d = new Device();
    EnergyLedger ledger = new EnergyLedger(d, EnergyLedger.Rule.ROWS_SHARE, d);
    long a = ledger.begin(0, 3_000);
    long b = ledger.begin(0, 1_000);
    d.work(8, 0);
    List<EnergyFigure> fa = ledger.end(a);
    d.work(2, 0);
    List<EnergyFigure> fb = ledger.end(b);
    assertEquals(6, sum(fa, "cpu", "rows_share"), 1e-9);
    assertEquals(2 + 2, sum(fb, "cpu", "rows_share"), 1e-9);
    assertEquals(0, sum(fa, "cpu", "unattributed") + sum(fb, "cpu", "unattributed"), 1e-9);
    long c = ledger.begin(0, 10);
    d.work(3, 0);
    assertEquals(3, sum(ledger.end(c), "cpu", "exclusive"), 1e-9, "a batch alone on the GPU: exclusive");
  }

  @Test
  void anyScheduleAddsUpToTheMeasuredTotal() {
    Random rnd = new Random(17);
    for (int trial = 0; trial < 200; trial++) {
      Device d = new Device();
      EnergyLedger ledger = new EnergyLedger(d, rnd.nextBoolean() ? EnergyLedger.Rule.CPU_TIME_SHARE
          : EnergyLedger.Rule.ROWS_SHARE, d);
      List<long[]> open = new ArrayList<>(); // {span id, thread}
      List<EnergyFigure> all = new ArrayList<>();
      double busy = 0;
      for (int step = 0; step < 60; step++) {
        if (open.isEmpty() || (open.size() < 4 && rnd.nextBoolean())) {
          long thread = 1 + rnd.nextInt(8);
          open.add(new long[] {ledger.begin(thread, 1 + rnd.nextInt(5_000)), thread});
        } else if (rnd.nextInt(5) == 0) {
          ledger.abandon(open.remove(rnd.nextInt(open.size()))[0]); // a failed task
        } else {
          all.addAll(ledger.end(open.remove(rnd.nextInt(open.size()))[0]));
        }
        double j = rnd.nextDouble() * 50;
        long[] threads = new long[2 * open.size()];
        long taskCpu = 0;
        for (int i = 0; i < open.size(); i++) {
          threads[2 * i] = open.get(i)[1];
          threads[2 * i + 1] = rnd.nextInt(1_000);
          taskCpu += threads[2 * i + 1];
        }
        // Two spans may share a thread id here; the process clock still covers their sum.
        d.work(j, taskCpu + rnd.nextInt(500), threads);
        if (!open.isEmpty()) {
          busy += j;
        }
      }
      while (!open.isEmpty()) {
        all.addAll(ledger.end(open.remove(0)[0]));
      }
      // Recorded figures plus what failed spans took with them (cpu and dram) = what was measured.
      assertEquals(busy * 1.1, sum(all, "cpu", null) + sum(all, "dram", null) + ledger.droppedJoules(),
          1e-6 * Math.max(1, busy), "trial " + trial);
      assertTrue(all.stream().allMatch(f -> f.joules() >= 0));
    }
  }

  @Test
  void theIdleDrawIsRecordedApartAndBothAddUpToTheMeasurement() {
    Device d = new Device();
    // cpu idles at 10 W; dram has no idle figure, so it is not split
    EnergyLedger ledger = new EnergyLedger(d, EnergyLedger.Rule.ROWS_SHARE, d,
        new IdlePower(Map.of("cpu", 10.0)));
    long a = ledger.begin(0, 3);
    long b = ledger.begin(0, 1);
    d.wall += 2_000_000_000L;                 // 2 s: 20 J of idle draw
    d.work(50, 0);                            // 50 J measured: 30 J above idle
    List<EnergyFigure> fa = ledger.end(a);
    assertEquals(30 * 0.75, sum(fa, "cpu", "rows_share"), 1e-9);
    assertEquals(20 * 0.75, sum(fa, "cpu_idle", "rows_share"), 1e-9);
    assertEquals(5 * 0.75, sum(fa, "dram", "rows_share"), 1e-9);
    assertEquals(0, sum(fa, "dram_idle", null), 1e-9, "no idle figure, no split");
    d.wall += 1_000_000_000L;                 // 1 s alone: 10 J idle, but only 4 J measured
    d.work(4, 0);
    List<EnergyFigure> fb = ledger.end(b);
    assertEquals(30 * 0.25, sum(fb, "cpu", "rows_share"), 1e-9);
    assertEquals(20 * 0.25 + 4, sum(fb, "cpu_idle", "rows_share"), 1e-9,
        "the idle part is never more than what was measured");
    assertEquals(54, sum(fa, "cpu", null) + sum(fa, "cpu_idle", null) + sum(fb, "cpu", null)
        + sum(fb, "cpu_idle", null), 1e-9, "above idle + idle = measured");
  }

  @Test
  void aSpanWeighedAfterItOpenedSharesFromThen() {
    Device d = new Device();
    EnergyLedger ledger = new EnergyLedger(d, EnergyLedger.Rule.ROWS_SHARE, d);
    long waiting = ledger.begin(0, 0);        // a node waiting for a batch: no rows yet
    long busy = ledger.begin(0, 100);
    d.work(10, 0);                            // all 10 J to the span with rows
    ledger.weigh(waiting, 300);
    d.work(8, 0);
    List<EnergyFigure> fb = ledger.end(busy);
    assertEquals(10 + 2, sum(fb, "cpu", "rows_share"), 1e-9);
    assertEquals(6, sum(ledger.end(waiting), "cpu", "rows_share"), 1e-9);
    long alone = ledger.begin(0, 0);
    d.work(5, 0);                             // nobody with rows: the unattributed rest
    ledger.weigh(alone, 10);
    d.work(1, 0);
    List<EnergyFigure> fa = ledger.end(alone);
    assertEquals(1, sum(fa, "cpu", "exclusive"), 1e-9);
    assertEquals(5, sum(fa, "cpu", "unattributed"), 1e-9);
    assertThrows(IllegalArgumentException.class, () -> ledger.weigh(busy, 1));
  }

  @Test
  void idlePowerIsTheCountersMeanPowerOverAQuietWindow() throws Exception {
    Device d = new Device();
    IdlePower idle = IdlePower.measure(d, 3_000_000_000L, () -> d.wall, nanos -> {
      d.wall += nanos;
      d.work(3 * 129.0, 0);                   // 129 W for 3 s; dram gets a tenth
    });
    assertEquals(129.0, idle.watts("cpu"), 1e-9);
    assertEquals(12.9, idle.watts("dram"), 1e-9);
    assertEquals(0, idle.watts("gpu"), 1e-9);
    assertEquals("cpu_idle", IdlePower.idleComponent("cpu"));
    assertThrows(IllegalArgumentException.class, () -> new IdlePower(Map.of("gpu", Double.NaN)));
    assertThrows(IllegalArgumentException.class, () -> IdlePower.measure(d, 0, () -> 0, n -> {}));
  }

  @Test
  void aCounterThatMovesInStepsStillGivesTheIdleDrawToIdle() {
    // A board at exactly its 100 W idle whose counter moves every 100 ms; batches of 10 ms.
    Device d = new Device();
    EnergyLedger ledger = new EnergyLedger(d, EnergyLedger.Rule.ROWS_SHARE, d, new IdlePower(Map.of("cpu", 100.0)));
    List<EnergyFigure> all = new ArrayList<>();
    double pending = 0;
    for (int batch = 0; batch < 100; batch++) {
      long id = ledger.begin(0, 10);
      d.wall += 10_000_000L;
      pending += 1.0;                          // 100 W × 10 ms, not yet shown
      if (batch % 10 == 9) {
        d.cpuJ += pending;                     // the counter's step
        pending = 0;
      }
      all.addAll(ledger.end(id));
    }
    assertEquals(100, sum(all, "cpu", null) + sum(all, "cpu_idle", null), 1e-9, "what the counter showed");
    assertEquals(100, sum(all, "cpu_idle", null), 1e-9, "all of it idle draw");
    assertEquals(0, sum(all, "cpu", null), 1e-9);
  }
}
