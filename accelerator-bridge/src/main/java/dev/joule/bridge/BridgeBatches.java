package dev.joule.bridge;

import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.kernel.Precision;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
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
 * kernel's precision, so an int8 kernel moves a quarter of the bytes of fp32:
 *
 * <ul>
 *   <li>fp32 request: {@code embedding: fixed_size_list<float32>[dim]}
 *   <li>int8 request: {@code codes: fixed_size_binary[dim]}, {@code scale: float32}
 *   <li>response: {@code label: int32} (index of the top output), {@code score: float32} (its
 *       value), {@code scores: fixed_size_list<float32>[outputs]}
 * </ul>
 *
 * Every root returned here is owned by the caller, who must close it.
 */
public final class BridgeBatches {

  private BridgeBatches() {}

  public static Schema requestSchema(Precision precision, int dim) {
    switch (precision) {
      case FP32:
        return new Schema(List.of(KernelCodec.fixedSizeFloatList("embedding", dim)));
      case INT8:
        return new Schema(List.of(
            Field.notNullable("codes", new ArrowType.FixedSizeBinary(dim)),
            KernelCodec.float32("scale")));
      default:
        throw new AssertionError(precision);
    }
  }

  public static Schema responseSchema(int outputs) {
    return new Schema(List.of(
        Field.notNullable("label", new ArrowType.Int(32, true)),
        KernelCodec.float32("score"),
        KernelCodec.fixedSizeFloatList("scores", outputs)));
  }

  public static VectorSchemaRoot toRequest(EncodedRows rows, BufferAllocator allocator) {
    VectorSchemaRoot root = VectorSchemaRoot.create(requestSchema(rows.precision(), rows.dim()), allocator);
    try {
      int n = rows.rows();
      if (rows.precision() == Precision.FP32) {
        KernelCodec.writeFloatList((FixedSizeListVector) root.getVector("embedding"), rows.values(),
            n, rows.dim());
      } else {
        KernelCodec.writeFixedBinary((FixedSizeBinaryVector) root.getVector("codes"), rows.codes(),
            n, rows.dim());
        Float4Vector scale = (Float4Vector) root.getVector("scale");
        scale.allocateNew(Math.max(n, 1));
        for (int r = 0; r < n; r++) {
          scale.set(r, rows.scales()[r]);
        }
        scale.setValueCount(n);
      }
      root.setRowCount(n);
      return root;
    } catch (RuntimeException e) {
      root.close();
      throw e;
    }
  }

  /** Reads a request back into heap arrays; the root stays open and owned by the caller. */
  public static EncodedRows fromRequest(VectorSchemaRoot root) {
    int n = root.getRowCount();
    FixedSizeListVector emb = asFixedList(root, "embedding");
    if (emb != null) {
      int dim = emb.getListSize();
      float[] values = new float[n * dim];
      KernelCodec.readFloatList(emb, n, dim, values);
      return EncodedRows.fp32(n, dim, values);
    }
    if (root.getVector("codes") instanceof FixedSizeBinaryVector codesVec
        && root.getVector("scale") instanceof Float4Vector scaleVec) {
      int dim = codesVec.getByteWidth();
      byte[] codes = new byte[n * dim];
      codesVec.getDataBuffer().getBytes(0, codes, 0, codes.length);
      float[] scales = new float[n];
      for (int r = 0; r < n; r++) {
        scales[r] = scaleVec.get(r);
      }
      return EncodedRows.int8(n, dim, codes, scales);
    }
    throw new IllegalArgumentException("request batch has neither an fp32 'embedding' column nor "
        + "int8 'codes' + 'scale' columns: " + root.getSchema());
  }

  public static VectorSchemaRoot toResponse(float[] scores, int rows, int outputs,
      BufferAllocator allocator) {
    VectorSchemaRoot root = VectorSchemaRoot.create(responseSchema(outputs), allocator);
    try {
      IntVector label = (IntVector) root.getVector("label");
      Float4Vector score = (Float4Vector) root.getVector("score");
      label.allocateNew(Math.max(rows, 1));
      score.allocateNew(Math.max(rows, 1));
      for (int r = 0; r < rows; r++) {
        int best = argmax(scores, r * outputs, outputs);
        label.set(r, best);
        score.set(r, scores[r * outputs + best]);
      }
      label.setValueCount(rows);
      score.setValueCount(rows);
      KernelCodec.writeFloatList((FixedSizeListVector) root.getVector("scores"), scores, rows, outputs);
      root.setRowCount(rows);
      return root;
    } catch (RuntimeException e) {
      root.close();
      throw e;
    }
  }

  /** Index of the largest value in {@code a[off, off+n)}; the first one on ties. */
  public static int argmax(float[] a, int off, int n) {
    int best = 0;
    for (int j = 1; j < n; j++) {
      if (a[off + j] > a[off + best]) {
        best = j;
      }
    }
    return best;
  }

  private static FixedSizeListVector asFixedList(VectorSchemaRoot root, String name) {
    return root.getSchema().getFields().stream().anyMatch(f -> f.getName().equals(name))
        && root.getVector(name) instanceof FixedSizeListVector v ? v : null;
  }
}
