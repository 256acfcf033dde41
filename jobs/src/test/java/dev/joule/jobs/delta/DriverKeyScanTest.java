package dev.joule.jobs.delta;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The key test's hash bits never turn a wanted key away: it answers as a bisection does. */
class DriverKeyScanTest {

  @Test
  void anIntegerKeyIsWantedExactlyWhenItIsAmongTheKeys() {
    SplittableRandom random = new SplittableRandom(21);
    for (int round = 0; round < 200; round++) {
      int n = 1 + random.nextInt(round < 100 ? 50 : 20_000);
      long spread = round % 3 == 0 ? 4L * n : Long.MAX_VALUE; // dense ids, or anywhere in the range
      long[] keys = random.longs(n, round % 2 == 0 ? -spread / 2 : 0, spread).sorted().distinct().toArray();
      DriverKeyScan.Wanted wanted = new DriverKeyScan.Wanted(keys, null);
      for (long k : keys) {
        assertEquals(true, wanted.has(k), "key " + k);
      }
      for (int probe = 0; probe < 2_000; probe++) {
        long k = probe % 2 == 0 ? keys[random.nextInt(keys.length)] + random.nextInt(-3, 4) : random.nextLong();
        assertEquals(Arrays.binarySearch(keys, k) >= 0, wanted.has(k), "probe " + k);
      }
    }
  }
}
