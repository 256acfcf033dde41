package dev.joule.bridge.kernel;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BitVectorHelper;
import org.apache.arrow.vector.FixedSizeBinaryVector;
import org.apache.arrow.vector.Float4Vector;
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
 * Serializes kernels to Arrow IPC stream bytes (one schema carrying op, precision, activation and
 * dim as metadata, one record batch with a row per output) and back. The kernel id is the SHA-256
 * of exactly these bytes, so the encoding is deterministic: sorted metadata, fixed field order.
 */
public final class KernelCodec {

  public static final String FORMAT = "joule-kernel/1";

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
    if (!(kernel instanceof LinearKernel k)) {
      throw new IllegalArgumentException("no codec for op " + kernel.op());
    }
    Map<String, String> meta = new TreeMap<>();
    meta.put("joule.format", FORMAT);
    meta.put("joule.op", k.op());
    meta.put("joule.activation", k.activation().label());
    meta.put("joule.precision", k.precision().label());
    meta.put("joule.dim", Integer.toString(k.dim()));

    List<Field> fields = new ArrayList<>();
    fields.add(Field.notNullable("label", ArrowType.Utf8.INSTANCE));
    fields.add(Field.notNullable("bias", FLOAT32));
    if (k.precision() == Precision.FP32) {
      fields.add(fixedSizeFloatList("weights", k.dim()));
    } else {
      fields.add(Field.notNullable("w_codes", new ArrowType.FixedSizeBinary(k.dim())));
      fields.add(Field.notNullable("w_scale", FLOAT32));
    }
    Schema schema = new Schema(fields, meta);
    int n = k.outputs();
    int dim = k.dim();
    try (BufferAllocator alloc = new RootAllocator();
        VectorSchemaRoot root = VectorSchemaRoot.create(schema, alloc)) {
      VarCharVector label = (VarCharVector) root.getVector("label");
      Float4Vector bias = (Float4Vector) root.getVector("bias");
      label.allocateNew(n);
      bias.allocateNew(n);
      for (int j = 0; j < n; j++) {
        label.setSafe(j, k.labels().get(j).getBytes(StandardCharsets.UTF_8));
        bias.set(j, k.bias()[j]);
      }
      if (k.precision() == Precision.FP32) {
        writeFloatList((FixedSizeListVector) root.getVector("weights"), k.weights(), n, dim);
      } else {
        writeFixedBinary((FixedSizeBinaryVector) root.getVector("w_codes"), k.weightCodes(), n, dim);
        Float4Vector scale = (Float4Vector) root.getVector("w_scale");
        scale.allocateNew(n);
        for (int j = 0; j < n; j++) {
          scale.set(j, k.weightScales()[j]);
        }
      }
      root.setRowCount(n);
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

  public static Kernel decode(byte[] ipc) {
    try (BufferAllocator alloc = new RootAllocator();
        ArrowStreamReader reader = new ArrowStreamReader(new ByteArrayInputStream(ipc), alloc)) {
      VectorSchemaRoot root = reader.getVectorSchemaRoot();
      Map<String, String> meta = root.getSchema().getCustomMetadata();
      if (meta == null || !FORMAT.equals(meta.get("joule.format"))) {
        throw new IllegalArgumentException("not a Joule kernel (format "
            + (meta == null ? "missing" : meta.get("joule.format")) + ", expected " + FORMAT + ")");
      }
      if (!LinearKernel.OP.equals(meta.get("joule.op"))) {
        throw new IllegalArgumentException("unsupported kernel op " + meta.get("joule.op"));
      }
      if (!reader.loadNextBatch()) {
        throw new IllegalArgumentException("kernel has no parameter batch");
      }
      Activation act = Activation.parse(meta.get("joule.activation"));
      Precision precision = Precision.parse(meta.get("joule.precision"));
      int dim = Integer.parseInt(meta.get("joule.dim"));
      int n = root.getRowCount();
      VarCharVector labelVec = (VarCharVector) root.getVector("label");
      Float4Vector biasVec = (Float4Vector) root.getVector("bias");
      List<String> labels = new ArrayList<>(n);
      float[] bias = new float[n];
      for (int j = 0; j < n; j++) {
        labels.add(new String(labelVec.get(j), StandardCharsets.UTF_8));
        bias[j] = biasVec.get(j);
      }
      if (precision == Precision.FP32) {
        float[] w = readFloatList((FixedSizeListVector) root.getVector("weights"), n, dim);
        return LinearKernel.fromFlat(w, dim, bias, labels, act, Precision.FP32);
      }
      FixedSizeBinaryVector codesVec = (FixedSizeBinaryVector) root.getVector("w_codes");
      byte[] codes = new byte[n * dim];
      codesVec.getDataBuffer().getBytes(0, codes, 0, codes.length);
      Float4Vector scaleVec = (Float4Vector) root.getVector("w_scale");
      float[] scales = new float[n];
      for (int j = 0; j < n; j++) {
        scales[j] = scaleVec.get(j);
      }
      return LinearKernel.ofInt8(act, dim, labels, bias, codes, scales);
    } catch (IOException e) {
      throw new IllegalArgumentException("kernel bytes are not valid Arrow IPC: " + e.getMessage(), e);
    }
  }

  // --- small Arrow helpers shared with the bridge's batch codec ---

  public static Field fixedSizeFloatList(String name, int size) {
    return new Field(name, FieldType.notNullable(new ArrowType.FixedSizeList(size)),
        List.of(Field.notNullable("item", FLOAT32)));
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
    for (int i = 0; i < total; i++) {
      out[i] = buf.getFloat((long) i * Float.BYTES);
    }
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
