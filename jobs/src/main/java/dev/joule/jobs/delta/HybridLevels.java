package dev.joule.jobs.delta;

import java.nio.ByteBuffer;
import org.apache.parquet.column.values.bitpacking.BytePacker;
import org.apache.parquet.column.values.bitpacking.Packer;

/**
 * Parquet's RLE / bit-packing hybrid encoding (repetition and definition levels, dictionary
 * indices) decoded a run at a time into an int array: a repeated run is one fill, a bit-packed
 * run is unpacked eight values at a call by parquet-mr's generated packers. parquet-mr's own
 * decoder hands out one value per call.
 */
final class HybridLevels {

  private HybridLevels() {}

  /** The bits a value up to {@code max} takes in this encoding. */
  static int bitWidth(int max) {
    return 32 - Integer.numberOfLeadingZeros(max);
  }

  /**
   * Decodes {@code count} values of {@code bitWidth} bits from {@code buf}'s bytes
   * [{@code from}, {@code to}) into {@code out[0, count)}; {@code out} has room for 8 more (a
   * bit-packed run ends on a group of eight).
   *
   * @throws IllegalStateException where the bytes end before {@code count} values, or a value
   *     exceeds {@code max}
   */
  static void decode(ByteBuffer buf, int from, int to, int bitWidth, int max, int count, int[] out) {
    if (out.length < count + 8) {
      throw new IllegalArgumentException("room for " + out.length + " values, " + (count + 8) + " needed");
    }
    BytePacker packer = bitWidth == 0 ? null : Packer.LITTLE_ENDIAN.newBytePacker(bitWidth);
    int valueBytes = (bitWidth + 7) / 8;
    int p = from;
    int i = 0;
    while (i < count) {
      // The run's header: an unsigned LEB128 varint.
      int header = 0;
      int shift = 0;
      int b;
      do {
        if (p >= to || shift > 28) {
          throw new IllegalStateException("levels end after " + i + " of " + count + " values");
        }
        b = buf.get(p++) & 0xff;
        header |= (b & 0x7f) << shift;
        shift += 7;
      } while ((b & 0x80) != 0);
      if ((header & 1) == 0) { // a repeated run: the value in valueBytes little-endian bytes
        int run = header >>> 1;
        if (p + valueBytes > to) {
          throw new IllegalStateException("levels end inside a run's value");
        }
        int value = 0;
        for (int k = 0; k < valueBytes; k++) {
          value |= (buf.get(p + k) & 0xff) << (8 * k);
        }
        p += valueBytes;
        if (value < 0 || value > max) {
          throw new IllegalStateException("level or index " + value + " above its maximum " + max);
        }
        int end = (int) Math.min((long) i + run, count);
        java.util.Arrays.fill(out, i, end, value);
        i = end;
      } else { // groups of eight values, bitWidth bytes a group
        int groups = header >>> 1;
        for (int g = 0; g < groups && i < count; g++) {
          if (packer == null) {
            java.util.Arrays.fill(out, i, i + 8, 0);
          } else {
            if (p + bitWidth <= to) {
              packer.unpack8Values(buf, p, out, i);
            } else if (i + 8 >= count && (long) (to - p) * 8 >= (long) (count - i) * bitWidth) {
              // the last group, cut short by its writer after the values needed: zeros past its end
              byte[] group = new byte[bitWidth];
              for (int k = 0; k < to - p; k++) {
                group[k] = buf.get(p + k);
              }
              packer.unpack8Values(group, 0, out, i);
            } else {
              throw new IllegalStateException("levels end inside a bit-packed group");
            }
            p += bitWidth;
            for (int k = i, e = Math.min(i + 8, count); k < e; k++) {
              if (out[k] > max || out[k] < 0) {
                throw new IllegalStateException("level or index " + out[k] + " above its maximum " + max);
              }
            }
          }
          i += 8;
        }
      }
    }
  }
}
