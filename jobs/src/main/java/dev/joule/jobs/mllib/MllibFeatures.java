package dev.joule.jobs.mllib;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.expr;

import dev.joule.udfs.EmbeddingColumn;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.expressions.UserDefinedFunction;

/**
 * An embeddings column as the MLlib {@code features} vector column, the way a data team feeds
 * MLlib: {@code array_to_vector} for arrays, a decoding UDF for packed float32. Rows MLlib cannot
 * take (null, wrong size, null or non-finite values) are filtered out first; Joule itself would
 * reject them with a reason.
 */
public final class MllibFeatures {

  private MllibFeatures() {}

  private static final UserDefinedFunction F32LE = org.apache.spark.sql.functions.udf(
      (UDF1<byte[], Vector>) b -> {
        double[] v = new double[b.length / 4];
        ByteBuffer buf = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < v.length; i++) {
          v[i] = buf.getFloat(i * 4);
          if (!Double.isFinite(v[i])) {
            return null; // filtered out below, as the array layouts' non-finite rows are
          }
        }
        return Vectors.dense(v);
      }, SQLDataTypes.VectorType());

  /** Rows of {@code in} whose {@code embCol} MLlib can take, with a {@code features} column added. */
  public static Dataset<Row> withFeatures(Dataset<Row> in, String embCol, int dim) {
    EmbeddingColumn.Layout layout = EmbeddingColumn.layoutOf(embCol, in.schema().apply(embCol).dataType());
    String c = "`" + embCol.replace("`", "``") + "`";
    if (layout == EmbeddingColumn.Layout.BINARY_F32LE) {
      Dataset<Row> ok = in.filter(expr(c + " IS NOT NULL AND length(" + c + ") = " + (4 * dim)));
      return ok.withColumn("features", F32LE.apply(col(embCol))).filter(col("features").isNotNull());
    }
    Dataset<Row> ok = in.filter(expr(c + " IS NOT NULL AND size(" + c + ") = " + dim
        + " AND NOT exists(" + c + ", x -> x IS NULL OR isnan(x) OR abs(x) = double('infinity'))"));
    Column features = org.apache.spark.ml.functions.array_to_vector(col(embCol));
    return ok.withColumn("features", features);
  }

  /** The most common embedding size in {@code in}, or 0 if there is none. */
  public static int commonDim(Dataset<Row> in, String embCol) {
    EmbeddingColumn.Layout layout = EmbeddingColumn.layoutOf(embCol, in.schema().apply(embCol).dataType());
    String c = "`" + embCol.replace("`", "``") + "`";
    String size = layout == EmbeddingColumn.Layout.BINARY_F32LE ? "length(" + c + ") DIV 4" : "size(" + c + ")";
    java.util.List<Row> top = in.filter(col(embCol).isNotNull()).selectExpr(size + " AS d").groupBy("d").count()
        .orderBy(col("count").desc(), col("d")).limit(1).collectAsList();
    return top.isEmpty() ? 0 : ((Number) top.get(0).get(0)).intValue();
  }
}
