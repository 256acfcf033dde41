package dev.joule.udfs.files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The key index against the plain answer (every row whose key is wanted, found by a pass over the
 * rows), property-style: keys in order, shuffled, repeated, over a narrow and the full long range,
 * wanted keys absent, at the ends and in runs; and an index that is not of its data file as it is
 * (another key column, size, modification time or row count, cut short, damaged, missing) is not
 * used, and keys out of order are never written.
 */
class KeyIndexTest {

  @TempDir
  java.nio.file.Path tmp;

  @Test
  void findsEveryRowOfEveryWantedKey() {
    Random r = new Random(7);
    for (int trial = 0; trial < 300; trial++) {
      int n = r.nextInt(trial < 20 ? 5 : 3000);
      long[] keys = rowKeys(r, n, trial % 5);
      long[] wanted = wanted(r, keys, trial);
      KeyIndex index = KeyIndex.of(keys, n);
      List<Integer> got = new ArrayList<>();
      index.positionsOf(wanted, got::add);
      got.sort(null);
      assertEquals(plain(keys, n, wanted), got, "trial " + trial + ", " + n + " rows");
    }
  }

  @Test
  void sortsWithPositionsOnEveryPath() {
    Random r = new Random(11);
    for (int mode = 0; mode < 5; mode++) { // in order, narrow range, full range, repeated, a span of 2^31..2^32
      int n = 5000;
      long[] keys = rowKeys(r, n, mode);
      long[] sorted = keys.clone();
      int[] positions = new int[n];
      for (int i = 0; i < n; i++) {
        positions[i] = i;
      }
      long[] original = keys.clone();
      KeyIndex.sort(sorted, positions, n);
      long[] expected = original.clone();
      Arrays.sort(expected);
      assertArrayEquals(expected, sorted, "mode " + mode);
      for (int i = 0; i < n; i++) {
        assertEquals(original[positions[i]], sorted[i], "mode " + mode + ", row " + i);
      }
      assertEquals(n, Arrays.stream(positions).distinct().count(), "each position once");
    }
  }

  @Test
  void writtenIndexIsReadOnlyForItsDataFileAsItIs() throws Exception {
    Configuration conf = new Configuration();
    Path data = new Path(tmp.toUri().toString(), "part-00000-x.parquet");
    Files.write(tmp.resolve("part-00000-x.parquet"), new byte[] {1, 2, 3});
    long[] keys = {40, 10, 30, 10, 20};
    KeyIndex.write(conf, data, 3, 1234, "id", keys.clone(), 5);
    Path table = new Path(tmp.toUri().toString());
    long length = KeyIndex.list(conf, table).get("part-00000-x.parquet");
    KeyIndex read = KeyIndex.read(conf, data, length, 3, 1234, "id", 5);
    assertNotNull(read);
    List<Integer> got = new ArrayList<>();
    read.positionsOf(new long[] {10, 25, 40}, got::add);
    got.sort(null);
    assertEquals(List.of(0, 1, 3), got);
    assertEquals(5, read.rows());

    assertNull(KeyIndex.read(conf, data, length, 4, 1234, "id", 5), "another data file size");
    assertNull(KeyIndex.read(conf, data, length, 3, 1235, "id", 5), "another modification time");
    assertNull(KeyIndex.read(conf, data, length, 3, 1234, "id", 6), "another row count");
    assertNull(KeyIndex.read(conf, data, length, 3, 1234, "ix", 5), "another key column");
    assertEquals(java.util.Set.of("part-00000-x.parquet"), KeyIndex.list(conf, table).keySet(), "the one index");
    assertTrue(KeyIndex.list(conf, new Path(table, "nothing-here")).isEmpty(), "no folder: none");
    java.nio.file.Path file = tmp.resolve(KeyIndex.DIR).resolve("part-00000-x.parquet.keys");
    byte[] bytes = Files.readAllBytes(file);
    Files.write(file, Arrays.copyOf(bytes, bytes.length - 4));
    assertNull(KeyIndex.read(conf, data, length, 3, 1234, "id", 5), "cut short");
    for (int at : new int[] {40, bytes.length - 1}) { // a key's byte, a position's
      byte[] damaged = bytes.clone();
      damaged[at] ^= 1;
      Files.write(file, damaged);
      assertNull(KeyIndex.read(conf, data, length, 3, 1234, "id", 5), "a bit flipped at byte " + at);
    }
    Files.write(file, bytes);
    assertNotNull(KeyIndex.read(conf, data, length, 3, 1234, "id", 5), "as written");
    // Keys out of order (a sort's error): the search would miss keys, so no such index is written.
    org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> KeyIndex.bytes(3, 1234, "id",
        new long[] {10, 10, 40, 20, 30}, new int[] {1, 3, 0, 4, 2}, 5));
  }

  /**
   * Row keys: 0 ascending, 1 shuffled in a narrow range, 2 over the full long range, 3 repeated,
   * 4 shuffled over a span just under 2^32 (offsets past 2^31: the packed sort's sign bit).
   */
  private static long[] rowKeys(Random r, int n, int mode) {
    long[] k = new long[n];
    for (int i = 0; i < n; i++) {
      k[i] = switch (mode) {
        case 0 -> 1_000L + 3L * i;
        case 1 -> -500 + r.nextInt(Math.max(1, 4 * n));
        case 2 -> r.nextLong();
        case 3 -> r.nextInt(Math.max(1, n / 4 + 1));
        default -> -7L + (r.nextLong() & 0xffffffffL) - (i % 3 == 0 ? 0 : 1);
      };
    }
    if (mode == 2 && n > 2) {
      k[0] = Long.MIN_VALUE;
      k[1] = Long.MAX_VALUE;
    }
    if (mode == 4 && n > 2) {
      k[0] = -7L; // the least, and the greatest at 2^32 - 1 above it
      k[1] = -7L + 0xffffffffL;
    }
    return k;
  }

  /** Wanted keys, ascending and distinct: some present, some absent, sometimes every key. */
  private static long[] wanted(Random r, long[] keys, int trial) {
    TreeSet<Long> w = new TreeSet<>();
    if (trial % 10 == 9) {
      for (long k : keys) {
        w.add(k);
      }
    }
    int m = r.nextInt(200);
    for (int i = 0; i < m; i++) {
      w.add(keys.length > 0 && r.nextBoolean() ? keys[r.nextInt(keys.length)] : r.nextLong() % 5000);
    }
    if (r.nextInt(5) == 0) {
      w.add(Long.MIN_VALUE);
      w.add(Long.MAX_VALUE);
    }
    return w.stream().mapToLong(Long::longValue).toArray();
  }

  private static List<Integer> plain(long[] keys, int n, long[] wanted) {
    List<Integer> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      if (Arrays.binarySearch(wanted, keys[i]) >= 0) {
        out.add(i);
      }
    }
    return out;
  }
}
