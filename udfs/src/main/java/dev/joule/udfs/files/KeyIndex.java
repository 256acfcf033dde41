package dev.joule.udfs.files;

import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * A data file's integer keys, sorted, with the row position of each: a night finds the rows its
 * changed ids replace by a search in this small file instead of decoding the data file's key
 * column (12 bytes a row read, against Parquet's page decoding). It lives beside the table's data,
 * under {@value #DIR}/, named after its data file; Delta never reads it and VACUUM leaves folders
 * whose names start with an underscore alone. It is only an accelerator: a file without one, or
 * with one that is not of this key column or does not match the data file's size, modification
 * time and row count (as its Delta entry gives them), is read as before.
 *
 * <p>Layout, little-endian (the order of the machines that read it: searched where it lies,
 * nothing decoded): magic {@code JKI1}, the data file's length in bytes (long) and modification time
 * (long), rows n (int), the CRC-32C of everything after it (int), the key column's name (int
 * length, UTF-8), n keys ascending (long), then n positions (int) in the keys' order. The
 * checksum is the index's own, so it is checked alike on every file system (written and read
 * without Hadoop's checksum files): a damaged index would mark the wrong rows deleted. The keys'
 * order is checked when it is written.
 */
public final class KeyIndex {

  /** The folder, in the table's root, that holds the indexes. */
  public static final String DIR = "_joule_keys";
  private static final int MAGIC = 0x4a4b4931; // "JKI1"
  /** Magic, data file length and time, rows, checksum: what precedes the checksummed part. */
  private static final int FIXED = 4 + 8 + 8 + 4 + 4;
  /**
   * Rows beyond which no index is kept for a file: a task holds 8 bytes a row while it writes the
   * file and about 30 more while it sorts and writes the index (60 MB at this bound).
   */
  public static final int MAX_ROWS = 2_000_000;

  /**
   * The index file's bytes, little-endian (mapped, for a local file): keys from {@link #keysAt},
   * positions after them. Read with the buffer's own absolute gets: in a short process, where this
   * runs before the JIT has compiled it, they cost less than a VarHandle's.
   */
  private final ByteBuffer bytes;
  private final int keysAt;
  private final int rows;

  private KeyIndex(ByteBuffer bytes, int keysAt, int rows) {
    this.bytes = bytes;
    this.keysAt = keysAt;
    this.rows = rows;
  }

  private long key(int i) {
    return bytes.getLong(keysAt + 8 * i);
  }

  private int position(int i) {
    return bytes.getInt(keysAt + 8 * rows + 4 * i);
  }

  private static final String SUFFIX = ".keys";

  /** Where the index of the data file {@code dataFile} (a file in a table's root) is kept. */
  public static Path pathOf(Path dataFile) {
    return new Path(new Path(dataFile.getParent(), DIR), dataFile.getName() + SUFFIX);
  }

  /** The data file an index file is of, by name, or null for a name no index has. */
  public static String dataFileOf(String indexName) {
    return indexName.endsWith(SUFFIX) ? indexName.substring(0, indexName.length() - SUFFIX.length()) : null;
  }

  /**
   * The indexes in table folder {@code tableDir}, by their data file's name → the index file's
   * length: one listing for a commit, rather than a look for each file (a request each on an
   * object store) where most files may have none.
   */
  public static java.util.Map<String, Long> list(Configuration conf, Path tableDir) {
    java.util.Map<String, Long> out = new java.util.HashMap<>();
    Path dir = new Path(tableDir, DIR);
    try {
      FileSystem fs = raw(dir.getFileSystem(conf));
      for (org.apache.hadoop.fs.FileStatus s : fs.listStatus(dir)) {
        String data = dataFileOf(s.getPath().getName());
        if (data != null && s.isFile()) {
          out.put(data, s.getLen());
        }
      }
    } catch (IOException | RuntimeException e) {
      // no folder (FileNotFoundException), or unreadable: no index is used
    }
    return out;
  }

  /**
   * Writes the index of a closed data file: {@code keys[i]} is the value of {@code keyColumn} in
   * row {@code i} (the first {@code rows} entries; the array is sorted in place).
   */
  public static void write(Configuration conf, Path dataFile, long dataBytes, long dataModified, String keyColumn,
      long[] keys, int rows) throws IOException {
    int[] positions = sortWithPositions(keys, rows);
    Path p = pathOf(dataFile);
    FileSystem fs = raw(p.getFileSystem(conf));
    byte[] contents = bytes(dataBytes, dataModified, keyColumn, keys, positions, rows);
    // An index is never rewritten in place: a reader may have it mapped, and a file cut short
    // under a mapping faults. One in the way (of another key column, or damaged) is unlinked,
    // then created anew; a task's new file has none, so it costs no look first.
    for (int attempt = 0; attempt < 2; attempt++) {
      try (DataOutputStream out = fs.create(p, false)) {
        out.write(contents);
        return;
      } catch (org.apache.hadoop.fs.FileAlreadyExistsException e) {
        if (attempt == 0) {
          fs.delete(p, false);
        } // else another writer's index of the same file was made meanwhile: it stays
      }
    }
  }

  /**
   * An index file's bytes. The keys' order is checked here, where they are a plain array, rather
   * than by every reader (the search would miss keys after one out of order): a sort's error
   * leaves a file without an index, never a wrong one.
   */
  static byte[] bytes(long dataBytes, long dataModified, String keyColumn, long[] sortedKeys,
      int[] positions, int rows) {
    for (int i = 1; i < rows; i++) {
      if (sortedKeys[i - 1] > sortedKeys[i]) {
        throw new IllegalStateException("key index: keys out of order at " + i);
      }
    }
    byte[] name = keyColumn.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    int keysAt = FIXED + 4 + name.length;
    ByteBuffer b = ByteBuffer.allocate(keysAt + rows * 12).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.putInt(MAGIC).putLong(dataBytes).putLong(dataModified).putInt(rows).putInt(0).putInt(name.length).put(name);
    b.asLongBuffer().put(sortedKeys, 0, rows);
    b.position(keysAt + rows * 8);
    b.asIntBuffer().put(positions, 0, rows);
    b.putInt(FIXED - 4, crc(b));
    return b.array();
  }

  /** The CRC-32C of an index file's bytes after its checksum. */
  private static int crc(ByteBuffer whole) {
    java.util.zip.CRC32C c = new java.util.zip.CRC32C();
    c.update(whole.slice(FIXED, whole.capacity() - FIXED));
    return (int) c.getValue();
  }

  /** The file system without Hadoop's checksum files (the index carries its own checksum). */
  private static FileSystem raw(FileSystem fs) {
    return fs instanceof org.apache.hadoop.fs.ChecksumFileSystem c ? c.getRawFileSystem() : fs;
  }

  /**
   * The index of {@code keyColumn} in {@code dataFile}, {@code length} bytes long (as
   * {@link #list} found it), or null where it is not of this column, or not of this file as it is
   * ({@code dataBytes}, {@code dataModified} and {@code rows} from its Delta entry), or damaged, or
   * unreadable.
   */
  public static KeyIndex read(Configuration conf, Path dataFile, long length, long dataBytes, long dataModified,
      String keyColumn, long rows) {
    Path p = pathOf(dataFile);
    byte[] name = keyColumn.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    int keysAt = FIXED + 4 + name.length;
    if (rows > MAX_ROWS || length != keysAt + rows * 12) {
      return null;
    }
    try {
      ByteBuffer b = contents(raw(p.getFileSystem(conf)), p, (int) length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
      if (b.getInt() != MAGIC || b.getLong() != dataBytes || b.getLong() != dataModified || b.getInt() != rows
          || b.getInt() != crc(b) || b.getInt() != name.length
          || !b.slice(FIXED + 4, name.length).equals(ByteBuffer.wrap(name))) {
        return null;
      }
      return new KeyIndex(b, keysAt, (int) rows);
    } catch (IOException | RuntimeException e) {
      return null; // read as if it had none
    }
  }

  /**
   * A file's bytes: a local file mapped (no copy: on this project's VM, copying 12 bytes a row out
   * of the page cache cost more than the rest of the search), any other read whole.
   */
  private static ByteBuffer contents(FileSystem fs, Path p, int length) throws IOException {
    if (fs instanceof org.apache.hadoop.fs.RawLocalFileSystem local) {
      try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(local.pathToFile(p).toPath())) {
        if (ch.size() != length) {
          throw new IOException(p + " changed");
        }
        return ch.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, 0, length);
      }
    }
    byte[] bytes = new byte[length];
    try (FSDataInputStream in = fs.open(p)) {
      in.readFully(0, bytes);
    }
    return ByteBuffer.wrap(bytes);
  }

  /** An index of keys already in memory (tests). */
  static KeyIndex of(long[] keys, int rows) {
    long[] k = Arrays.copyOf(keys, rows);
    int[] positions = sortWithPositions(k, rows);
    return new KeyIndex(ByteBuffer.wrap(bytes(0, 0, "k", k, positions, rows)).order(java.nio.ByteOrder.LITTLE_ENDIAN),
        FIXED + 5, rows);
  }

  /** Sorts the first {@code rows} keys in place; returns each one's row (its index before). */
  private static int[] sortWithPositions(long[] keys, int rows) {
    int[] positions = new int[rows];
    for (int i = 0; i < rows; i++) {
      positions[i] = i;
    }
    sort(keys, positions, rows);
    return positions;
  }

  /** The rows indexed. */
  public int rows() {
    return rows;
  }

  /**
   * Calls {@code hit} with the position of every row whose key is one of {@code sortedKeys}
   * (ascending; every row of a key that is on several). Each key is sought from where the last
   * one was found, by galloping, so a few keys cost a few probes and many cost one pass.
   */
  public void positionsOf(long[] sortedKeys, java.util.function.IntConsumer hit) {
    int from = 0;
    for (long k : sortedKeys) {
      if (from >= rows) {
        return;
      }
      from = lowerBound(k, from);
      for (int i = from; i < rows && key(i) == k; i++) {
        hit.accept(position(i));
      }
    }
  }

  /** The first index at or after {@code from} whose key is at least {@code k}. */
  private int lowerBound(long k, int from) {
    int step = 1;
    int lo = from;
    int hi = from;
    while (hi < rows && key(hi) < k) {
      lo = hi + 1;
      hi = from + step;
      step <<= 1;
    }
    hi = Math.min(hi, rows);
    while (lo < hi) { // key(lo - 1) < k <= key(hi), or hi = rows
      int mid = (lo + hi) >>> 1;
      if (key(mid) < k) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  /**
   * Sorts the first {@code n} keys ascending, carrying their positions along: nothing to do for
   * keys already in order (a night writes its rows in the source's order), a primitive sort where
   * the keys span less than 2^32 (key offset and position packed in one long), else a merge sort.
   */
  static void sort(long[] keys, int[] positions, int n) {
    long min = Long.MAX_VALUE;
    long max = Long.MIN_VALUE;
    boolean ascending = true;
    for (int i = 0; i < n; i++) {
      long k = keys[i];
      ascending &= i == 0 || keys[i - 1] <= k;
      min = Math.min(min, k);
      max = Math.max(max, k);
    }
    if (ascending) {
      return;
    }
    if (max - min >= 0 && max - min < (1L << 32)) { // no overflow, and the offset fits 32 bits
      // The sign bit flipped, so that a signed sort orders offsets of 2^31 and more last.
      long[] packed = new long[n];
      for (int i = 0; i < n; i++) {
        packed[i] = (((keys[i] - min) << 32) | (positions[i] & 0xffffffffL)) ^ Long.MIN_VALUE;
      }
      Arrays.sort(packed);
      for (int i = 0; i < n; i++) {
        long p = packed[i] ^ Long.MIN_VALUE;
        keys[i] = (p >>> 32) + min;
        positions[i] = (int) p;
      }
      return;
    }
    mergeSort(keys, positions, n);
  }

  /** A stable bottom-up merge sort of {@code keys[0, n)} carrying {@code positions}. */
  private static void mergeSort(long[] keys, int[] positions, int n) {
    long[] k2 = new long[n];
    int[] p2 = new int[n];
    long[] ks = keys;
    int[] ps = positions;
    for (int width = 1; width < n; width <<= 1) {
      for (int lo = 0; lo < n; lo += 2 * width) {
        int mid = Math.min(lo + width, n);
        int hi = Math.min(lo + 2 * width, n);
        int i = lo;
        int j = mid;
        for (int o = lo; o < hi; o++) {
          if (j >= hi || (i < mid && ks[i] <= ks[j])) {
            k2[o] = ks[i];
            p2[o] = ps[i++];
          } else {
            k2[o] = ks[j];
            p2[o] = ps[j++];
          }
        }
      }
      long[] kt = ks;
      ks = k2;
      k2 = kt;
      int[] pt = ps;
      ps = p2;
      p2 = pt;
    }
    if (ks != keys) {
      System.arraycopy(ks, 0, keys, 0, n);
      System.arraycopy(ps, 0, positions, 0, n);
    }
  }
}
