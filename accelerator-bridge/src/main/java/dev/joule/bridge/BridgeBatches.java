package dev.joule.bridge;

import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.Precision;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.FixedSizeBinaryVector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * The Arrow record batches that cross the bridge. Requests carry rows already encoded at the
 * kernel's precision, so int8 moves a quarter of fp32's bytes, int4 an eighth, binary 1/32:
 *
 * <ul>
 *   <li>fp32: {@code embedding: fixed_size_list<float32>[dim]}, {@code norm: float32}
 *   <li>int8 / int4 / binary: {@code codes: fixed_size_binary[row bytes]}, {@code scale},
 *       {@code norm}; the schema metadata carries {@code joule.precision} and {@code joule.dim}
 *   <li>optionally the same rows again for rescoring, as {@code rescore_embedding} (fp32) or
 *       {@code rescore_codes} + {@code rescore_scale} + {@code rescore_norm} (int8)
 *   <li>response: {@code label: int32} (index of the top score), {@code score: float32},
 *       {@code scores: fixed_size_list<float32>[width]}, and for neighbour kernels
 *       {@code indices: fixed_size_list<int32>[width]}
 * </ul>
 *
 * Every root returned here is owned by the caller, who must close it.
 */
public final class BridgeBatches {

  private BridgeBatches() {}

  public static Schema requestSchema(EncodedRows rows) {
    List<Field> fields = new ArrayList<>(fields("", rows.precision(), rows.dim()));
    if (rows.rescore() != null) {
      fields.addAll(fields("rescore_", rows.rescore().precision(), rows.dim()));
    }
    return new Schema(fields, Map.of("joule.precision", rows.precision().label(),
        "joule.dim", Integer.toString(rows.dim()),
        "joule.rescore", rows.rescore() == null ? "" : rows.rescore().precision().label()));
  }

  private static List<Field> fields(String prefix, Precision p, int dim) {
    if (p == Precision.FP32) {
      return List.of(KernelCodec.fixedSizeFloatList(prefix + "embedding", dim),
          KernelCodec.float32(prefix + "norm"));
    }
    return List.of(Field.notNullable(prefix + "codes", new ArrowType.FixedSizeBinary(p.rowBytes(dim))),
        KernelCodec.float32(prefix + "scale"), KernelCodec.float32(prefix + "norm"));
  }

  public static VectorSchemaRoot toRequest(EncodedRows rows, BufferAllocator allocator) {
    VectorSchemaRoot root = VectorSchemaRoot.create(requestSchema(rows), allocator);
    try {
      write(root, "", rows);
      if (rows.rescore() != null) {
        write(root, "rescore_", rows.rescore());
      }
      root.setRowCount(rows.rows());
      return root;
    } catch (RuntimeException e) {
      root.close();
      throw e;
    }
  }

  private static void write(VectorSchemaRoot root, String prefix, EncodedRows rows) {
    int n = rows.rows();
    if (rows.precision() == Precision.FP32) {
      KernelCodec.writeFloatList((FixedSizeListVector) root.getVector(prefix + "embedding"),
          rows.values(), n, rows.dim());
    } else {
      KernelCodec.writeFixedBinary((FixedSizeBinaryVector) root.getVector(prefix + "codes"),
          rows.codes(), n, rows.stride());
      writeFloats((Float4Vector) root.getVector(prefix + "scale"), rows.scales(), n);
    }
    writeFloats((Float4Vector) root.getVector(prefix + "norm"), rows.norms(), n);
  }

  /** Reads a request back into heap arrays; the root stays open and owned by the caller. */
  public static EncodedRows fromRequest(VectorSchemaRoot root) {
    Map<String, String> meta = root.getSchema().getCustomMetadata();
    if (meta == null || !meta.containsKey("joule.precision")) {
      throw new IllegalArgumentException("request batch lacks joule.precision metadata: " + root.getSchema());
    }
    Precision p = Precision.parse(meta.get("joule.precision"));
    int dim;
    try {
      dim = Integer.parseInt(meta.getOrDefault("joule.dim", ""));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("request batch metadata joule.dim '" + meta.get("joule.dim") + "' is not a number");
    }
    if (dim < 1) {
      throw new IllegalArgumentException("request batch metadata joule.dim " + dim + " is not positive");
    }
    EncodedRows rows = read(root, "", p, dim);
    String rescore = meta.getOrDefault("joule.rescore", "");
    return rescore.isEmpty() ? rows : rows.withRescore(read(root, "rescore_", Precision.parse(rescore), dim));
  }

  /**
   * Every size comes from the metadata and is checked against the bytes that actually arrived
   * before anything is allocated: a batch cannot make a node allocate more than it sent.
   */
  private static EncodedRows read(VectorSchemaRoot root, String prefix, Precision p, int dim) {
    int n = root.getRowCount();
    float[] norms = readFloats(vector(root, prefix + "norm", Float4Vector.class), n);
    if (p == Precision.FP32) {
      FixedSizeListVector list = vector(root, prefix + "embedding", FixedSizeListVector.class);
      if (list.getListSize() != dim || !(list.getDataVector() instanceof Float4Vector floats)) {
        throw new IllegalArgumentException("request column " + prefix + "embedding holds " + list.getListSize()
            + " values per row, not float32 x joule.dim " + dim);
      }
      requireBytes(floats.getDataBuffer(), 4L * n * dim, prefix + "embedding");
      float[] values = new float[n * dim];
      KernelCodec.readFloatList(list, n, dim, values);
      return EncodedRows.fp32(n, dim, values, norms);
    }
    FixedSizeBinaryVector codesVec = vector(root, prefix + "codes", FixedSizeBinaryVector.class);
    if (codesVec.getByteWidth() != p.rowBytes(dim)) {
      throw new IllegalArgumentException("request column " + prefix + "codes has " + codesVec.getByteWidth()
          + " bytes per row, not the " + p.rowBytes(dim) + " of " + p + " x joule.dim " + dim);
    }
    requireBytes(codesVec.getDataBuffer(), (long) n * p.rowBytes(dim), prefix + "codes");
    byte[] codes = new byte[n * p.rowBytes(dim)];
    codesVec.getDataBuffer().getBytes(0, codes, 0, codes.length);
    return EncodedRows.quantized(p, n, dim, codes, readFloats(vector(root, prefix + "scale", Float4Vector.class), n), norms);
  }

  private static <V> V vector(VectorSchemaRoot root, String name, Class<V> type) {
    Object v = root.getSchema().getFields().stream().anyMatch(f -> f.getName().equals(name)) ? root.getVector(name) : null;
    if (!type.isInstance(v)) {
      throw new IllegalArgumentException("request batch lacks a " + type.getSimpleName() + " column '" + name + "'");
    }
    return type.cast(v);
  }

  private static void requireBytes(org.apache.arrow.memory.ArrowBuf buf, long needed, String column) {
    if (needed > Integer.MAX_VALUE || buf.capacity() < needed) {
      throw new IllegalArgumentException("request column " + column + " carries " + buf.capacity()
          + " bytes, its metadata and row count need " + needed);
    }
  }

  public static Schema responseSchema(int width, boolean indices) {
    List<Field> f = new ArrayList<>(List.of(
        Field.notNullable("label", new ArrowType.Int(32, true)),
        KernelCodec.float32("score"),
        KernelCodec.fixedSizeFloatList("scores", width)));
    if (indices) {
      f.add(KernelCodec.fixedSizeIntList("indices", width));
    }
    return new Schema(f);
  }

  /** Class kernels: the label is the argmax; neighbour kernels: the first (best) neighbour. */
  public static VectorSchemaRoot toResponse(KernelOutput out, BufferAllocator allocator) {
    int rows = out.rows();
    int width = out.width();
    int[] idx = out.indices();
    VectorSchemaRoot root = VectorSchemaRoot.create(responseSchema(width, idx != null), allocator);
    try {
      IntVector label = (IntVector) root.getVector("label");
      Float4Vector score = (Float4Vector) root.getVector("score");
      label.allocateNew(Math.max(rows, 1));
      score.allocateNew(Math.max(rows, 1));
      float[] s = out.scores();
      for (int r = 0; r < rows; r++) {
        int best = out.bestColumn(r);
        label.set(r, idx != null ? idx[r * width] : best);
        score.set(r, s[r * width + best]);
      }
      label.setValueCount(rows);
      score.setValueCount(rows);
      KernelCodec.writeFloatList((FixedSizeListVector) root.getVector("scores"), s, rows, width);
      if (idx != null) {
        KernelCodec.writeIntList((FixedSizeListVector) root.getVector("indices"), idx, rows, width);
      }
      root.setRowCount(rows);
      return root;
    } catch (RuntimeException e) {
      root.close();
      throw e;
    }
  }

  /** Index of the largest value in {@code a[off, off+n)}; the first one on ties. */
  public static int argmax(float[] a, int off, int n) {
    return KernelOutput.argmax(a, off, n);
  }

  private static void writeFloats(Float4Vector v, float[] values, int n) {
    v.allocateNew(Math.max(n, 1));
    for (int r = 0; r < n; r++) {
      v.set(r, values[r]);
    }
    v.setValueCount(n);
  }

  private static float[] readFloats(FieldVector v, int n) {
    if (!(v instanceof Float4Vector f)) {
      throw new IllegalArgumentException("request batch column " + (v == null ? "missing" : v.getName())
          + " is not float32");
    }
    requireBytes(f.getDataBuffer(), 4L * n, f.getName());
    float[] out = new float[n];
    for (int r = 0; r < n; r++) {
      out[r] = f.get(r);
    }
    return out;
  }
}
