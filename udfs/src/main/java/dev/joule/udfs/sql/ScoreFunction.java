package dev.joule.udfs.sql;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.model.ModelFileException;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.bridge.node.InProcessAcceleratorNode;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * joule_score: a model file's kernel applied to one embedding, exactly as {@code joule score}
 * applies it to a batch (same row encoding, same kernel code, same argmax), so the two agree row
 * for row. The kernel is built on the driver when the query is analysed and shipped as its
 * Arrow IPC bytes; each executor decodes it once, into its shared in-process node.
 *
 * <p>Not energy-accounted: a SQL function has no partition boundary to log at. Use {@code joule
 * score} when the energy log matters.
 */
final class ScoreFunction {

  static final String FN = "joule_score";
  static final StructType RESULT = new StructType()
      .add("label", DataTypes.StringType, false)
      .add("score", DataTypes.FloatType, false)
      .add("scores", DataTypes.createArrayType(DataTypes.FloatType, false), false)
      .add("kernel", DataTypes.StringType, false)
      .add("model_version", DataTypes.StringType, false);

  private ScoreFunction() {}

  static SqlFunction.Bound bind(SqlArgs args) {
    args.requireCount(2, 3, "joule_score(model_path, embedding[, precision])");
    String path = args.constantString(0, "model_path");
    EmbeddingArg embedding = args.embedding(1, "embedding");
    Precision precision = args.count() == 3
        ? CodesFunctions.precision(args, args.constantString(2, "precision")) : Precision.INT8;
    ModelSpec model;
    try {
      model = LinearModelFile.readAny(Path.of(path));
    } catch (ModelFileException e) {
      throw args.error("argument model_path: " + e.getMessage());
    }
    Kernel kernel;
    try {
      kernel = model.kernel(precision);
    } catch (IllegalArgumentException e) {
      throw args.error(e.getMessage());
    }
    return new Score(KernelCodec.encode(kernel), kernel.displayName(), model.modelId(),
        model.modelVersion(), kernel.queryPrecision(), kernel.dim(), kernel.labels(), embedding);
  }

  static final class Score implements SqlFunction.Bound {
    private static final long serialVersionUID = 1L;

    private final byte[] kernelBytes;
    private final String kernelName;
    private final String modelId;
    private final String modelVersion;
    private final Precision rowPrecision;
    private final int dim;
    private final List<String> labels;
    private final EmbeddingArg embedding;
    /** The decoded kernel and its labels, once per deserialized copy (a race decodes-or-finds twice). */
    private transient volatile Loaded loaded;

    private record Loaded(Kernel kernel, UTF8String[] labels) {}

    Score(byte[] kernelBytes, String kernelName, String modelId, String modelVersion,
        Precision rowPrecision, int dim, List<String> labels, EmbeddingArg embedding) {
      this.kernelBytes = kernelBytes;
      this.kernelName = kernelName;
      this.modelId = modelId;
      this.modelVersion = modelVersion;
      this.rowPrecision = rowPrecision;
      this.dim = dim;
      this.labels = List.copyOf(labels);
      this.embedding = embedding;
    }

    @Override
    public DataType dataType() {
      return RESULT;
    }

    @Override
    public Object eval(Object[] values) {
      float[] v = embedding.readFinite(values[1]);
      if (v.length != dim) {
        throw new SqlFunctionException(FN, "argument embedding has " + v.length + " values, model "
            + modelId + " expects " + dim);
      }
      Loaded l = load();
      Kernel k = l.kernel();
      EncodedRows rows = EncodedRows.encode(rowPrecision, 1, dim, v, k.rowScales());
      KernelOutput out = k.newOutput().reset(1);
      k.score(rows, out, InProcessAcceleratorNode.shared().vectorOps());
      int width = k.width();
      int best = BridgeBatches.argmax(out.scores(), 0, width);
      return new GenericInternalRow(new Object[] {l.labels()[best], out.scores()[best],
          UnsafeArrayData.fromPrimitiveArray(Arrays.copyOf(out.scores(), width)),
          UTF8String.fromString(kernelName), UTF8String.fromString(modelVersion)});
    }

    private Loaded load() {
      Loaded l = loaded;
      if (l == null) {
        l = new Loaded(InProcessAcceleratorNode.shared().kernel(kernelBytes),
            labels.stream().map(UTF8String::fromString).toArray(UTF8String[]::new));
        loaded = l;
      }
      return l;
    }
  }
}
