package dev.joule.jobs;

import static org.apache.spark.sql.functions.col;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.joule.bridge.kernel.DimensionScales;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.vector.VectorOpsProvider;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.jobs.model.ReferenceSet;
import dev.joule.jobs.quantize.QuantizeJob;
import dev.joule.jobs.score.ScoreJob;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** quantize once, score from codes; top-k, centroid and MLP models through score. */
class QuantizeJobIT {

  static final int ROWS = 1500;
  static final int DIM = 32;

  @TempDir static Path tmp;
  static SparkSession spark;
  static String embeddings;
  static String input;
  static Path teacher;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    GenerateJob.Output gen = new GenerateJob(spark).run(
        new GenerateJob.Request(ROWS, DIM, 4, tmp.resolve("gen").toString(), "array", 3, 0.3));
    embeddings = gen.embeddings();
    teacher = gen.model();
    StructType nullable = new StructType().add("id", DataTypes.LongType, true)
        .add("embedding", DataTypes.createArrayType(DataTypes.FloatType, true), true);
    Dataset<Row> bad = spark.createDataFrame(List.of(RowFactory.create(7001L, null),
        RowFactory.create(7002L, new float[] {1, 2})), nullable);
    input = tmp.resolve("input").toString();
    spark.read().format("delta").load(embeddings).select("id", "embedding").union(bad)
        .write().format("delta").save(input);
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  static QuantizeJob.Result quantize(Precision p) {
    String out = tmp.resolve("codes-" + p).toString();
    return new QuantizeJob(spark, TestSpark.config(tmp)).run(new QuantizeJob.Request(input, p, out, out + "_rejects", null));
  }

  static Dataset<Row> score(String in, ModelSpec model, Precision p, String out, String... sets) {
    // These tests compare codes with on-the-fly quantization, not quality: the gate (which
    // QualityGateIT covers) would refuse the coarse precisions on this small, noisy table.
    String[] all = java.util.Arrays.copyOf(sets, sets.length + 1);
    all[sets.length] = "quality.sample-rows=0";
    new ScoreJob(spark, TestSpark.config(tmp, all)).run(new ScoreJob.Request(in, model, p, out, true));
    return spark.read().format("delta").load(out + "/predictions");
  }

  @Test
  void codesTableRoundTripAndReconciliation() {
    QuantizeJob.Result r = quantize(Precision.INT4);
    assertEquals(ROWS + 2, r.rowsIn());
    assertEquals(ROWS, r.quantized());
    assertEquals(Map.of("null_embedding", 1L, "wrong_dim", 1L), r.reasons());
    assertEquals(DIM, r.dim());
    Dataset<Row> codes = spark.read().format("delta").load(r.table());
    assertEquals(List.of("id", "codes", "scale", "norm", "precision", "dim", "embedding_hash", "source_version"),
        List.of(codes.schema().fieldNames()));
    Row one = codes.filter(col("id").equalTo(5L)).head();
    assertEquals(DIM / 2, ((byte[]) one.getAs("codes")).length, "int4: two codes per byte");
    assertEquals("int4", one.getAs("precision"));
    assertEquals(32, ((String) one.getAs("embedding_hash")).length());
    assertEquals(1L, codes.select("embedding_hash").distinct().count() > ROWS - 5 ? 1L : 0L, "hashes differ per row");
    // What a scoring run reads from the table's properties instead of from its rows.
    Map<String, String> props = dev.joule.jobs.delta.DeltaIO.properties(spark, r.table());
    assertEquals("int4", props.get(QuantizeJob.PRECISION_PROPERTY));
    assertEquals(Integer.toString(DIM), props.get(QuantizeJob.DIM_PROPERTY));
    assertEquals(Long.toString(r.sourceVersion()), props.get(QuantizeJob.SOURCE_VERSION_PROPERTY));
    assertEquals(List.of(r.sourceVersion()), codes.select("source_version").distinct().collectAsList().stream()
        .map(x -> x.getLong(0)).toList());
  }

  @Test
  void scoringFromCodesEqualsTheKernelForTheTablesDimensionScalesOnTheSameRows() {
    LinearModelFile model = LinearModelFile.read(teacher);
    for (Precision p : new Precision[] {Precision.INT8, Precision.INT4}) {
      QuantizeJob.Result q = quantize(p);
      // The table records the per-dimension scales its rows were divided by, in its own commit.
      DimensionScales e = QuantizeJob.dimensionScales(spark, q.table(),
          dev.joule.jobs.delta.DeltaIO.latestVersion(spark, q.table()), DIM);
      assertTrue(e != null, "an " + p + " codes table records its dimension scales");
      float[] max = new float[DIM];
      List<Row> in = spark.read().format("delta").load(embeddings).select("id", "embedding").orderBy("id").collectAsList();
      float[] values = new float[in.size() * DIM];
      for (int r = 0; r < in.size(); r++) {
        List<Float> v = in.get(r).getList(1);
        for (int c = 0; c < DIM; c++) {
          values[r * DIM + c] = v.get(c);
        }
        DimensionScales.accumulateMaxAbs(values, r * DIM, max);
      }
      assertEquals(DimensionScales.ofMaxAbs(max), e, "the largest |x| of each dimension over the valid rows");
      // The run folds them into its kernel: its answers are that kernel's on rows encoded with them.
      Kernel k = model.kernel(p, e);
      KernelOutput out = k.newOutput();
      k.score(EncodedRows.encode(p, in.size(), DIM, values, e), out, VectorOpsProvider.get());
      List<Row> fromCodes = score(q.table(), model, p, tmp.resolve("from-codes-" + p).toString())
          .select("id", "label", "scores").orderBy("id").collectAsList();
      assertEquals(in.size(), fromCodes.size());
      for (int r = 0; r < in.size(); r++) {
        assertEquals(in.get(r).getLong(0), fromCodes.get(r).getLong(0));
        assertEquals(k.labels().get(dev.joule.bridge.BridgeBatches.argmax(out.scores(), r * k.width(), k.width())),
            fromCodes.get(r).getString(1), "precision " + p + ", row " + r);
        List<Float> got = fromCodes.get(r).getList(2);
        for (int j = 0; j < k.width(); j++) {
          assertEquals(out.scores()[r * k.width() + j], got.get(j), 0f, "precision " + p + ", row " + r);
        }
      }
    }
  }

  @Test
  void aRolledBackRequantizeBringsBackTheOldRowsWithTheirOwnScales() {
    String out = tmp.resolve("requantize").toString();
    QuantizeJob job = new QuantizeJob(spark, TestSpark.config(tmp));
    job.run(new QuantizeJob.Request(embeddings, Precision.INT8, out, out + "_rejects", null));
    Map<String, String> before = dev.joule.jobs.delta.DeltaIO.properties(spark, out);
    List<Row> rowsBefore = spark.read().format("delta").load(out).orderBy("id").collectAsList();
    // Another table's rows and scales replace them in one commit, which a failed run then undoes.
    Dataset<Row> other = spark.read().format("delta").load(embeddings).limit(3)
        .selectExpr("id", "cast(null as binary) as codes");
    dev.joule.jobs.delta.TableCommit commit = new dev.joule.jobs.delta.TableCommit(spark, "test-run");
    commit.replace(out, other, Map.of(QuantizeJob.DIMENSION_SCALES_PROPERTY, "AAAAAA=="));
    assertEquals("AAAAAA==", dev.joule.jobs.delta.DeltaIO.properties(spark, out).get(QuantizeJob.DIMENSION_SCALES_PROPERTY));
    commit.rollback();
    assertEquals(before, dev.joule.jobs.delta.DeltaIO.properties(spark, out));
    assertEquals(rowsBefore, spark.read().format("delta").load(out).orderBy("id").collectAsList());
  }

  @Test
  void binaryTopkFromCodesEqualsOnTheFlyAndFindsItself() {
    QuantizeJob.Result q = quantize(Precision.BINARY);
    ModelSpec ref = ReferenceSet.load(spark, embeddings, "id", "embedding", "cosine", 5, 4, "none", 100_000);
    List<Row> fromCodes = score(q.table(), ref, Precision.BINARY, tmp.resolve("topk-codes").toString())
        .select("id", "neighbors").orderBy("id").collectAsList();
    List<Row> onTheFly = score(input, ref, Precision.BINARY, tmp.resolve("topk-emb").toString())
        .select("id", "neighbors").orderBy("id").collectAsList();
    assertEquals(onTheFly, fromCodes);

    // With int8 rescoring (needs the embeddings), every row's nearest neighbour is itself.
    ModelSpec rescored = ReferenceSet.load(spark, embeddings, "id", "embedding", "cosine", 5, 4, "int8", 100_000);
    Dataset<Row> p = score(input, rescored, Precision.BINARY, tmp.resolve("topk-rescored").toString());
    assertEquals(ROWS, p.count());
    assertEquals(ROWS, p.filter("label = CAST(id AS STRING) AND size(neighbors) = 5").count());
    JouleException e = assertThrows(JouleException.class,
        () -> score(q.table(), rescored, Precision.BINARY, tmp.resolve("topk-bad").toString()));
    assertTrue(e.getMessage().contains("needs the embeddings"), e.getMessage());
  }

  @Test
  void codesOfAnotherPrecisionAreRefusedWithAClearMessage() {
    QuantizeJob.Result q = quantize(Precision.INT8);
    JouleException e = assertThrows(JouleException.class, () -> score(q.table(),
        LinearModelFile.read(teacher), Precision.FP32, tmp.resolve("mismatch").toString()));
    assertTrue(e.getMessage().contains("holds int8 codes; score it with --precision int8"), e.getMessage());
  }

  @Test
  void rowsOfAnotherPrecisionInACodesTableAreRejectedWithAReason() {
    QuantizeJob.Result int8 = quantize(Precision.INT8);
    QuantizeJob.Result int4 = quantize(Precision.INT4);
    String mixed = tmp.resolve("codes-mixed").toString();
    spark.read().format("delta").load(int8.table()).write().format("delta").save(mixed);
    // 40 int4 rows appended by hand, under new ids.
    spark.read().format("delta").load(int4.table()).filter("id < 40").withColumn("id", col("id").plus(1_000_000L))
        .write().format("delta").mode("append").save(mixed);
    String out = tmp.resolve("mixed-out").toString();
    score(mixed, LinearModelFile.read(teacher), Precision.INT8, out);
    Dataset<Row> rejects = spark.read().format("delta").load(out + "/rejects");
    assertEquals(40, rejects.count());
    assertEquals(40, rejects.filter("reason = 'wrong_precision: the row holds int4 codes, this run reads int8 codes'")
        .count(), rejects.first().toString());
    assertEquals(ROWS, spark.read().format("delta").load(out + "/predictions").count());
  }

  @Test
  void centroidAndMlpModelFilesScoreThroughTheCli() throws Exception {
    LinearModelFile t = LinearModelFile.read(teacher);
    ObjectMapper json = new ObjectMapper();
    Path centroid = tmp.resolve("centroid.json");
    json.writeValue(centroid.toFile(), Map.of("format", "joule-model/1", "model_id", "centres", "op", "centroid",
        "metric", "dot", "labels", t.labels(), "centroids", t.weights()));
    float[][] w2 = new float[t.labels().size()][t.labels().size()];
    for (int i = 0; i < w2.length; i++) {
      w2[i][i] = 1f;
    }
    Path mlp = tmp.resolve("mlp.json");
    float[] b1 = new float[t.labels().size()];
    java.util.Arrays.fill(b1, 1000f); // keep every hidden unit on: the MLP then equals the linear head
    float[] b2 = t.bias().clone();
    for (int i = 0; i < b2.length; i++) {
      b2[i] -= 1000f;
    }
    json.writeValue(mlp.toFile(), Map.of("format", "joule-model/1", "model_id", "mlp", "op", "mlp",
        "activation", "softmax", "labels", t.labels(), "w1", t.weights(), "b1", b1, "w2", w2, "b2", b2));
    for (Path model : List.of(centroid, mlp)) {
      String out = tmp.resolve("cli-" + model.getFileName()).toString();
      CliIT.Run r = CliIT.joule("score", "--input", input, "--model", model.toString(), "--precision", "int8",
          "--output", out, "--set", "spark.master=local[2]");
      assertEquals(0, r.code(), r.err());
      assertEquals(ROWS, spark.read().format("delta").load(out + "/predictions").count());
    }
    // The MLP built to equal the linear teacher agrees with it on (nearly) every row at fp32.
    Dataset<Row> a = score(input, LinearModelFile.read(teacher), Precision.FP32, tmp.resolve("lin32").toString());
    Dataset<Row> b = score(input, LinearModelFile.readAny(mlp), Precision.FP32, tmp.resolve("mlp32").toString());
    long same = a.as("a").join(b.as("b"), "id").filter("a.label = b.label").count();
    assertTrue(same >= ROWS - 2, same + " of " + ROWS);
  }

  /** Issue 23 item 4: values near the float limit never give a codes row with an Infinity in it. */
  @Test
  void rowsNearTheFloatLimitAreQuantizedOrRejectedNeverInfinite() {
    StructType schema = new StructType().add("id", DataTypes.LongType, true)
        .add("embedding", DataTypes.createArrayType(DataTypes.FloatType, false), true);
    String limit = tmp.resolve("near-limit").toString();
    spark.createDataFrame(List.of(RowFactory.create(1L, new float[] {1e38f, 1e38f, 1e38f, 1e38f}),
        RowFactory.create(2L, new float[] {3e38f, -3e38f, 0f, 0f}),
        RowFactory.create(3L, new float[] {1f, 2f, 3f, 4f})), schema).write().format("delta").save(limit);
    for (Precision p : new Precision[] {Precision.INT8, Precision.INT4, Precision.BINARY}) {
      String out = tmp.resolve("near-limit-" + p).toString();
      QuantizeJob.Result r = new QuantizeJob(spark, TestSpark.config(tmp))
          .run(new QuantizeJob.Request(limit, p, out, out + "_rejects", null));
      assertEquals(2, r.quantized(), p.toString());
      assertEquals(Map.of("non_finite", 1L), r.reasons(), p.toString());
      Dataset<Row> codes = spark.read().format("delta").load(out);
      assertEquals(0, codes.filter("isnan(norm) OR isnan(scale) OR abs(norm) = double('inf') "
          + "OR abs(scale) = double('inf')").count(), p.toString());
      assertEquals(2e38f, codes.filter("id = 1").head().<Float>getAs("norm"), 1e33f);
      assertEquals("non_finite: norm overflows float (4.243e+38 > 3.403e+38)",
          spark.read().format("delta").load(out + "_rejects").head().<String>getAs("reason"));
    }
  }
}
