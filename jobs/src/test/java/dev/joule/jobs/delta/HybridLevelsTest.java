package dev.joule.jobs.delta;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.apache.parquet.bytes.HeapByteBufferAllocator;
import org.apache.parquet.column.values.rle.RunLengthBitPackingHybridEncoder;
import org.junit.jupiter.api.Test;

/** The run decoder gives back what parquet-mr's own encoder wrote, for every bit width. */
class HybridLevelsTest {

  @Test
  void decodesWhatParquetMrEncodes() throws Exception {
    SplittableRandom random = new SplittableRandom(7);
    for (int round = 0; round < 400; round++) {
      int width = round % 33;
      int max = (int) Math.min((1L << width) - 1, Integer.MAX_VALUE);
      int n = 1 + random.nextInt(round < 200 ? 40 : 5_000);
      int[] values = new int[n];
      for (int i = 0; i < n; ) { // runs of one value and stretches of mixed ones, as levels are
        int run = 1 + random.nextInt(round % 2 == 0 ? 3 : 300);
        int v = width == 0 ? 0 : (int) (random.nextLong(max + 1L));
        for (int k = 0; k < run && i < n; k++, i++) {
          values[i] = random.nextInt(4) == 0 && width > 0 ? (int) random.nextLong(max + 1L) : v;
        }
      }
      RunLengthBitPackingHybridEncoder encoder = new RunLengthBitPackingHybridEncoder(width, 64, 1 << 20,
          HeapByteBufferAllocator.getInstance());
      for (int v : values) {
        encoder.writeInt(v);
      }
      byte[] bytes = encoder.toBytes().toByteArray();
      ByteBuffer buf = ByteBuffer.allocate(bytes.length + 5);
      buf.position(3); // not at the buffer's start, as a page's levels are not
      buf.put(bytes);
      int[] out = new int[n + 8];
      HybridLevels.decode(buf, 3, 3 + bytes.length, width, max, n, out);
      assertArrayEquals(values, Arrays.copyOf(out, n), "round " + round + ", width " + width);
    }
  }

  @Test
  void aLastGroupCutShortAfterTheValuesNeededIsRead() {
    // One bit-packed group (header 3) of 3-bit values, cut after its first byte: 5, 2 and 2 bits of a third.
    ByteBuffer buf = ByteBuffer.wrap(new byte[] {3, 0x15});
    int[] out = new int[10];
    HybridLevels.decode(buf, 0, 2, 3, 7, 2, out);
    assertArrayEquals(new int[] {5, 2}, Arrays.copyOf(out, 2));
    assertThrows(IllegalStateException.class, () -> HybridLevels.decode(buf, 0, 2, 3, 7, 3, new int[11]),
        "a third value needs a ninth bit");
  }

  @Test
  void refusesBytesThatEndEarlyOrValuesAboveTheMaximum() throws Exception {
    RunLengthBitPackingHybridEncoder encoder = new RunLengthBitPackingHybridEncoder(2, 64, 1 << 20,
        HeapByteBufferAllocator.getInstance());
    for (int i = 0; i < 100; i++) {
      encoder.writeInt(i % 4);
    }
    byte[] bytes = encoder.toBytes().toByteArray();
    ByteBuffer buf = ByteBuffer.wrap(bytes);
    assertThrows(IllegalStateException.class, () -> HybridLevels.decode(buf, 0, bytes.length / 2, 2, 3, 100,
        new int[108]));
    assertThrows(IllegalStateException.class, () -> HybridLevels.decode(buf, 0, bytes.length, 2, 2, 100,
        new int[108]));
  }
}
