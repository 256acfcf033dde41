package dev.joule.bridge.kernel;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BitVectorHelper;
import org.apache.arrow.vector.FixedSizeBinaryVector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Serializes kernels to Arrow IPC stream bytes and back: the schema's metadata holds the op and
 * the kernel's sorted metadata; one record batch holds its named parameter blobs ({@code name}
 * utf8, {@code blob} binary). The kernel id is the SHA-256 of exactly these bytes, so the
 * encoding is deterministic.
 */
public final class KernelCodec {

  public static final String FORMAT = "joule-kernel/2";
  /**
   * Kernels that rescore their near ties ({@link NearTies}): a node that predates them would
   * ignore the entries and score the same kernel without the rescoring, so they carry a format
   * such a node refuses. Every other kernel keeps {@link #FORMAT}, its bytes and its id.
   */
  public static final String FORMAT_NEAR_TIES = "joule-kernel/3";

  private static final ArrowType FLOAT32 = new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE);

  private KernelCodec() {}

  /** SHA-256 of the bytes, lower-case hex: the kernel's identity on every node. */
  public static String kernelId(byte[] ipc) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(ipc));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 missing from this JVM", e);
    }
  }

  public static byte[] encode(Kernel kernel) {
    return encode(kernel.op(), kernel.toPayload());
  }

  /**
   * The bytes of an op and its payload. Only a kernel's own payload makes a kernel that decodes;
   * tests use this to craft inconsistent ones.
   */
  public static byte[] encode(String op, KernelPayload p) {
    Map<String, String> meta = new TreeMap<>();
    p.meta().forEach((k, v) -> meta.put("joule." + k, v));
    meta.put("joule.format", NearTies.recordedIn(p) ? FORMAT_NEAR_TIES : FORMAT);
    meta.put("joule.op", op);
    Schema schema = new Schema(List.of(Field.notNullable("name", ArrowType.Utf8.INSTANCE),
        Field.notNullable("blob", ArrowType.Binary.INSTANCE)), meta);
    try (BufferAllocator alloc = new RootAllocator();
        VectorSchemaRoot root = VectorSchemaRoot.create(schema, alloc)) {
      VarCharVector names = (VarCharVector) root.getVector("name");
      VarBinaryVector blobs = (VarBinaryVector) root.getVector("blob");
      int i = 0;
      for (Map.Entry<String, byte[]> e : p.blobs().entrySet()) {
        names.setSafe(i, e.getKey().getBytes(StandardCharsets.UTF_8));
        blobs.setSafe(i, e.getValue());
        i++;
      }
      root.setRowCount(i);
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (ArrowStreamWriter writer = new ArrowStreamWriter(root, null, bytes)) {
        writer.start();
        writer.writeBatch();
        writer.end();
      }
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new IllegalStateException("cannot serialize kernel", e);
    }
  }

  /**
   * Decodes a kernel from an untrusted source (a node receiving a push): the bytes must hash to
   * {@code expectedId}, fit the limits, parse as a Joule kernel (Arrow IPC and little-endian
   * blobs, never Java deserialization) and have consistent shapes within the limits.
   *
   * @throws IllegalArgumentException with a message naming what is wrong
   */
  public static Kernel decodeUntrusted(byte[] ipc, String expectedId, KernelLimits limits) {
    if (ipc.length > limits.maxKernelBytes()) {
      throw new IllegalArgumentException("kernel of " + ipc.length + " bytes exceeds the limit of "
          + limits.maxKernelBytes() + " bytes (max-kernel-bytes)");
    }
    String id = kernelId(ipc);
    if (!id.equals(expectedId)) {
      throw new IllegalArgumentException("kernel bytes hash to " + id + ", not to the id " + expectedId
          + " they were sent under (truncated or altered)");
    }
    Kernel k;
    try {
      k = decode(ipc);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("malformed kernel: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      // Parsing hostile bytes can fail anywhere (short blobs, bad numbers, huge counts).
      throw new IllegalArgumentException("malformed kernel: " + e, e);
    }
    try {
      limits.check(k);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("kernel refused: " + e.getMessage(), e);
    }
    return k;
  }

  public static Kernel decode(byte[] ipc) {
    KernelPayload p = new KernelPayload();
    String op;
    String format;
    // The bytes' own buffers can never need more than the bytes themselves (plus alignment).
    try (BufferAllocator alloc = new RootAllocator(2L * ipc.length + (1 << 16));
        ArrowStreamReader reader = new ArrowStreamReader(new ByteArrayInputStream(ipc), alloc)) {
      VectorSchemaRoot root = reader.getVectorSchemaRoot();
      Map<String, String> meta = root.getSchema().getCustomMetadata();
      format = meta == null ? null : meta.get("joule.format");
      if (!FORMAT.equals(format) && !FORMAT_NEAR_TIES.equals(format)) {
        throw new IllegalArgumentException("not a Joule kernel (format " + (format == null ? "missing" : format)
            + ", expected " + FORMAT + " or " + FORMAT_NEAR_TIES + ")");
      }
      op = meta.get("joule.op");
      meta.forEach((k, v) -> p.meta(k.substring("joule.".length()), v));
      if (!reader.loadNextBatch()) {
        throw new IllegalArgumentException("kernel has no parameter batch");
      }
      VarCharVector names = (VarCharVector) root.getVector("name");
      VarBinaryVector blobs = (VarBinaryVector) root.getVector("blob");
      for (int i = 0; i < root.getRowCount(); i++) {
        p.blobs().put(new String(names.get(i), StandardCharsets.UTF_8), blobs.get(i));
      }
    } catch (IOException e) {
      throw new IllegalArgumentException("kernel bytes are not valid Arrow IPC: " + e.getMessage(), e);
    }
    if (op == null) {
      throw new IllegalArgumentException("kernel metadata lacks joule.op");
    }
    if (FORMAT_NEAR_TIES.equals(format) != NearTies.recordedIn(p)) {
      throw new IllegalArgumentException("kernel format " + format + " does not match its near-tie entries");
    }
    switch (op) {
      case LinearKernel.OP:
        return LinearKernel.fromPayload(p);
      case MlpKernel.OP:
        return MlpKernel.fromPayload(p);
      case CentroidKernel.OP:
        return CentroidKernel.fromPayload(p);
      case TopKKernel.OP:
        return TopKKernel.fromPayload(p);
      default:
        throw new IllegalArgumentException("unsupported kernel op " + op);
    }
  }

  // --- small Arrow helpers shared with the bridge's batch codec ---

  public static Field fixedSizeFloatList(String name, int size) {
    return new Field(name, FieldType.notNullable(new ArrowType.FixedSizeList(size)),
        List.of(Field.notNullable("item", FLOAT32)));
  }

  public static Field fixedSizeIntList(String name, int size) {
    return new Field(name, FieldType.notNullable(new ArrowType.FixedSizeList(size)),
        List.of(Field.notNullable("item", new ArrowType.Int(32, true))));
  }

  public static Field float32(String name) {
    return Field.notNullable(name, FLOAT32);
  }

  /** Fills a fixed-size float list with {@code rows * size} values, all non-null. */
  public static void writeFloatList(FixedSizeListVector list, float[] values, int rows, int size) {
    list.setInitialCapacity(rows);
    list.allocateNew();
    Float4Vector child = (Float4Vector) list.getDataVector();
    int total = rows * size;
    child.allocateNew(Math.max(total, 1));
    // One bulk copy straight into the Arrow buffer instead of a set() per value: this is every
    // fp32 row of a request batch.
    child.getDataBuffer().nioBuffer(0, total * Float.BYTES).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
        .put(values, 0, total);
    child.getValidityBuffer().setOne(0, (total + 7) / 8);
    child.setValueCount(total);
    for (int r = 0; r < rows; r++) {
      list.setNotNull(r);
    }
    list.setValueCount(rows);
  }

  /** Fills a fixed-size int list with {@code rows * size} values, all non-null. */
  public static void writeIntList(FixedSizeListVector list, int[] values, int rows, int size) {
    list.setInitialCapacity(rows);
    list.allocateNew();
    org.apache.arrow.vector.IntVector child = (org.apache.arrow.vector.IntVector) list.getDataVector();
    int total = rows * size;
    child.allocateNew(Math.max(total, 1));
    for (int i = 0; i < total; i++) {
      child.set(i, values[i]);
    }
    child.setValueCount(total);
    for (int r = 0; r < rows; r++) {
      list.setNotNull(r);
    }
    list.setValueCount(rows);
  }

  public static float[] readFloatList(FixedSizeListVector list, int rows, int size) {
    float[] out = new float[rows * size];
    readFloatList(list, rows, size, out);
    return out;
  }

  public static void readFloatList(FixedSizeListVector list, int rows, int size, float[] out) {
    var buf = ((Float4Vector) list.getDataVector()).getDataBuffer();
    int total = rows * size;
    buf.nioBuffer(0, total * Float.BYTES).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out, 0, total);
  }

  /** Fills a fixed-size binary vector with {@code rows} slices of {@code width} bytes. */
  public static void writeFixedBinary(FixedSizeBinaryVector vec, byte[] data, int rows, int width) {
    vec.allocateNew(Math.max(rows, 1));
    vec.getDataBuffer().setBytes(0, data, 0, (long) rows * width);
    for (int r = 0; r < rows; r++) {
      BitVectorHelper.setBit(vec.getValidityBuffer(), r);
    }
    vec.setValueCount(rows);
  }
}
