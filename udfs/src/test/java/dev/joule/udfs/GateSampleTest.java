package dev.joule.udfs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class GateSampleTest {

  @Test
  void picksAboutTheWantedShareOfIdsOfEachKind() {
    for (long rows : new long[] {20_000, 1_000_000}) {
      GateSample s = GateSample.of(rows, 1_000, 1.1);
      long longs = 0;
      long strings = 0;
      long ints = 0;
      for (long id = 0; id < rows; id++) {
        longs += s.includes(id) ? 1 : 0;
        strings += s.includes("row-" + id) ? 1 : 0;
        ints += s.includes((int) id) ? 1 : 0;
      }
      for (long n : new long[] {longs, strings, ints}) {
        assertTrue(n > 1_000 && n < 1_200, rows + " rows: " + n + " sampled, expected about 1,100");
      }
    }
  }

  @Test
  void theSameIdsEveryTimeAndEveryRowWhenFewerThanWanted() {
    GateSample a = GateSample.of(50_000, 500, 1.1);
    GateSample b = GateSample.of(50_000, 500, 1.1);
    for (long id = 0; id < 50_000; id++) {
      assertEquals(a.includes(id), b.includes(id));
    }
    GateSample all = GateSample.of(400, 500, 1.1);
    for (long id = 0; id < 400; id++) {
      assertTrue(all.includes(id));
      assertTrue(all.includes(Long.toString(id)));
    }
    assertFalse(all.includes(null));
    assertFalse(GateSample.of(400, 0, 1.1).includes(7L));
    assertTrue(GateSample.NONE.isEmpty());
  }

  @Test
  void theHashOfAnIdDoesNotDependOnTheJvm() {
    // Values pinned so that a change of the hash, which would move every sample, is a decision.
    assertEquals(0xe220a8397b1dcdafL, GateSample.hash(0L));
    assertEquals(GateSample.hash(7L), GateSample.hash(7));
    assertFalse(GateSample.hash("a") == GateSample.hash("b"));
  }
}
