package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Int4Quantizer;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.kernel.Similarity;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.node.InProcessAcceleratorNode;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.quantize.QuantizeJob;
import dev.joule.jobs.score.OutputTables;
import dev.joule.jobs.score.ScoreJob;
import dev.joule.jobs.score.ScoreResult;
import dev.joule.udfs.EmbeddingColumn;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
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

/** The SQL functions of JouleExtensions on local Spark, beside Delta's extension, against the kernels and jobs. */
class SqlFunctionsIT {

  static final int DIM = 24;

  @TempDir static Path tmp;
  static SparkSession spark;
  static GenerateJob.Output gen;
  static final VectorOps OPS = VectorOpsProvider.get();

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    gen = new GenerateJob(spark).run(
        new GenerateJob.Request(2000, DIM, 4, tmp.resolve("gen").toString(), "array", 11, 0.3));
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  /** Pairs of random vectors of many lengths, as array<float>, array<double> and binary columns. */
  static Dataset<Row> pairs(int n, long seed) {
    Random rnd = new Random(seed);
    int[] dims = {1, 7, 15, 16, 17, 63, 64, 65, 383, 384};
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int d = dims[i % dims.length];
      float[] a = new float[d];
      float[] b = new float[d];
      for (int j = 0; j < d; j++) {
        a[j] = (float) rnd.nextGaussian();
        b[j] = i % 7 == 0 ? 0f : (float) rnd.nextGaussian();
      }
      double[] ad = new double[d];
      for (int j = 0; j < d; j++) {
        ad[j] = a[j];
      }
      rows.add(RowFactory.create(i, a, b, ad, EmbeddingColumn.packF32le(a), EmbeddingColumn.packF32le(b)));
    }
    StructType schema = new StructType().add("i", DataTypes.IntegerType)
        .add("a", DataTypes.createArrayType(DataTypes.FloatType))
        .add("b", DataTypes.createArrayType(DataTypes.FloatType))
        .add("ad", DataTypes.createArrayType(DataTypes.DoubleType))
        .add("ab", DataTypes.BinaryType).add("bb", DataTypes.BinaryType);
    return spark.createDataFrame(rows, schema).repartition(2);
  }

  static float[] floats(Row r, String c) {
    List<Float> l = r.getList(r.fieldIndex(c));
    float[] v = new float[l.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = l.get(i);
    }
    return v;
  }

  @Test
  void jouleEmbedGivesTheEncodersVectorAndNullForNull() {
    List<Row> rows = spark.sql("SELECT t, joule_embed(t) AS v, joule_embed(t, 'all-minilm-l6-v2-q') AS q FROM VALUES "
        + "('GNU C Library: shared libraries'), (NULL) AS x(t) ORDER BY t NULLS LAST").collectAsList();
    float[] want = dev.joule.encoder.EncoderCache.get(dev.joule.encoder.EncoderModel.ALL_MINILM_L6_V2)
        .encode(List.of("GNU C Library: shared libraries")).vectors()[0];
    float[] wantQ = dev.joule.encoder.EncoderCache.get(dev.joule.encoder.EncoderModel.ALL_MINILM_L6_V2_Q)
        .encode(List.of("GNU C Library: shared libraries")).vectors()[0];
    org.junit.jupiter.api.Assertions.assertArrayEquals(want, floats(rows.get(0), "v"), 1e-6f);
    org.junit.jupiter.api.Assertions.assertArrayEquals(wantQ, floats(rows.get(0), "q"), 1e-6f);
    assertTrue(rows.get(1).isNullAt(1), "NULL text, NULL embedding");
  }

  @Test
  void registeredBesideDeltaWithUsage() {
    List<String> names = spark.sql("SHOW FUNCTIONS LIKE 'joule*'").collectAsList().stream()
        .map(r -> r.getString(0)).toList();
    for (String f : List.of("joule_cosine", "joule_dequantize", "joule_dot", "joule_embed", "joule_hamming",
        "joule_quantize", "joule_score")) {
      assertTrue(names.contains(f), f + " in " + names);
    }
    String usage = spark.sql("DESCRIBE FUNCTION joule_dot").collectAsList().toString();
    assertTrue(usage.contains("joule_dot(a, b) - The fp32 dot product"), usage);
    // Delta's SQL still works in the same session.
    String t = tmp.resolve("delta-check").toString();
    spark.range(3).write().format("delta").save(t);
    assertEquals(1, spark.sql("DESCRIBE HISTORY delta.`" + t + "`").count());
    // The README's example: a path-addressed Delta table with a Joule function.
    Row norm = spark.sql("SELECT count(*), min(sqrt(joule_dot(embedding, embedding))) FROM delta.`"
        + gen.embeddings() + "`").first();
    assertEquals(2000, norm.getLong(0));
    assertTrue(norm.getDouble(1) > 0);
  }

  @Test
  void dotCosineAndHammingEqualTheKernelsArithmetic() {
    List<Row> rows = pairs(300, 1).selectExpr("i", "a", "b",
        "joule_dot(a, b) AS dot", "joule_cosine(a, b) AS cos", "joule_hamming(a, b) AS ham",
        "joule_dot(ad, b) AS dot_d", "joule_cosine(ab, bb) AS cos_bin",
        "joule_hamming(joule_quantize(a, 'binary').codes, joule_quantize(b, 'binary').codes) AS ham_codes")
        .collectAsList();
    assertEquals(300, rows.size());
    for (Row r : rows) {
      float[] a = floats(r, "a");
      float[] b = floats(r, "b");
      EncodedRows ra = EncodedRows.fp32(1, a.length, a);
      EncodedRows rb = EncodedRows.fp32(1, b.length, b);
      float dot = Similarity.DOT.of(ra, 0, rb, 0, OPS);
      float cos = Similarity.COSINE.of(ra, 0, rb, 0, OPS);
      assertEquals(dot, r.getFloat(r.fieldIndex("dot")), "row " + r.getInt(0));
      assertEquals(dot, r.getFloat(r.fieldIndex("dot_d")), "row " + r.getInt(0));
      assertEquals(cos, r.getFloat(r.fieldIndex("cos")), "row " + r.getInt(0));
      assertEquals(cos, r.getFloat(r.fieldIndex("cos_bin")), "row " + r.getInt(0));
      // Against the plain definition too: the dot within fp32 rounding of a double sum.
      double ref = 0;
      for (int j = 0; j < a.length; j++) {
        ref += (double) a[j] * b[j];
      }
      assertEquals(ref, dot, 1e-4 * (1 + Math.abs(ref)));
      int ham = 0;
      for (int j = 0; j < a.length; j++) {
        ham += (a[j] > 0) != (b[j] > 0) ? 1 : 0;
      }
      assertEquals(ham, r.getInt(r.fieldIndex("ham")), "row " + r.getInt(0));
      assertEquals(ham, r.getInt(r.fieldIndex("ham_codes")), "row " + r.getInt(0));
    }
  }

  @Test
  void quantizeEqualsTheCodesTableAndDequantizeInvertsIt() {
    String codes = tmp.resolve("codes-int8").toString();
    new QuantizeJob(spark, TestSpark.config(tmp)).run(
        new QuantizeJob.Request(gen.embeddings(), Precision.INT8, codes, codes + "_rejects", null));
    spark.read().format("delta").load(gen.embeddings()).createOrReplaceTempView("emb");
    spark.read().format("delta").load(codes).createOrReplaceTempView("codes");
    // Every row's codes, scale and norm equal what joule quantize wrote, given the table's
    // dimension scales (a table property); without them, the codes differ.
    String scales = dev.joule.jobs.delta.DeltaIO.properties(spark, codes).get(QuantizeJob.DIMENSION_SCALES_PROPERTY);
    long differ = spark.sql("SELECT c.id FROM codes c JOIN (SELECT id, joule_quantize(embedding, 'int8', '" + scales
        + "') q FROM emb) e ON c.id = e.id WHERE c.codes <> e.q.codes OR c.scale <> e.q.scale OR c.norm <> e.q.norm"
        + " OR c.dim <> e.q.dim OR c.precision <> e.q.precision").count();
    assertEquals(0, differ);
    assertTrue(spark.sql("SELECT c.id FROM codes c JOIN (SELECT id, joule_quantize(embedding, 'int8') q FROM emb) e"
        + " ON c.id = e.id WHERE c.codes <> e.q.codes").count() > 0, "the scales change the codes");
    // And joule_dequantize with them gives back each value within half a step: every row of the
    // table went into the scales, so |x_c| <= e_c and the step of dimension c is at most e_c / 127.
    float[] e = dev.joule.bridge.kernel.DimensionScales.parse(scales).values();
    for (Row r : spark.sql("SELECT e.embedding, joule_dequantize(c.codes, c.scale, c.precision, c.dim, '" + scales
        + "') FROM codes c JOIN emb e ON c.id = e.id ORDER BY c.id LIMIT 50").collectAsList()) {
      List<Float> x = r.getList(0);
      List<Float> y = r.getList(1);
      for (int c = 0; c < e.length; c++) {
        assertTrue(Math.abs(x.get(c) - y.get(c)) <= e[c] / 254 * 1.001f, "dimension " + c + ": " + x.get(c) + " vs " + y.get(c));
      }
    }
    assertEquals(spark.table("emb").count(), spark.table("codes").count());

    for (String p : List.of("int8", "int4", "binary")) {
      List<Row> got = pairs(120, 2)
          .selectExpr("a", "joule_quantize(a, '" + p + "') AS q")
          .selectExpr("a", "q.scale AS scale", "joule_dequantize(q.codes, q.scale, q.precision, q.dim) AS back")
          .collectAsList();
      Precision prec = Precision.parse(p);
      for (Row r : got) {
        float[] a = floats(r, "a");
        float[] back = floats(r, "back");
        float s = r.getFloat(1);
        assertEquals(a.length, back.length);
        double err = 0;
        for (int j = 0; j < a.length; j++) {
          if (prec == Precision.BINARY) {
            assertEquals(a[j] > 0 ? s : -s, back[j], 0f, p + " dim " + j);
          } else if (prec == Precision.INT8) {
            // Symmetric rounding: within half a step of the original.
            assertTrue(Math.abs(a[j] - back[j]) <= s / 2 + 1e-6f, p + ": " + a[j] + " vs " + back[j]);
          }
          err += (a[j] - back[j]) * (double) (a[j] - back[j]);
        }
        if (prec == Precision.INT4) {
          // int4 clips at a fitted scale: no bound per value, but never worse than max-abs.
          double normSq = 0;
          for (float x : a) {
            normSq += (double) x * x;
          }
          // Up to the float rounding of the fitted scale.
          assertTrue(err <= Int4Quantizer.maxAbsScaleError(a, 0, a.length) + 1e-6 * normSq, "int4 error " + err);
        }
      }
    }
  }

  @Test
  void scoreEqualsTheScoreJobsPredictions() {
    for (Precision p : List.of(Precision.INT8, Precision.FP32, Precision.INT4)) {
      String out = tmp.resolve("score-" + p).toString();
      // The gate is off: this compares joule_score with the job at each precision, int4 included.
      ScoreResult r = new ScoreJob(spark, TestSpark.config(tmp, "quality.sample-rows=0")).run(
          new ScoreJob.Request(gen.embeddings(), gen.model(), p, out, true));
      Map<Long, Row> job = new HashMap<>();
      for (Row row : spark.read().format("delta").load(new OutputTables(out).predictions())
          .select("id", "label", "score", "scores").collectAsList()) {
        job.put(row.getLong(0), row);
      }
      List<Row> sql = spark.read().format("delta").load(gen.embeddings()).selectExpr("id",
          "joule_score('" + gen.model() + "', embedding, '" + p.label() + "') AS s").collectAsList();
      assertEquals(r.rowsScored(), sql.size());
      for (Row row : sql) {
        Row s = row.getStruct(1);
        Row j = job.get(row.getLong(0));
        assertEquals(j.getString(1), s.getString(0), "label of id " + row.getLong(0) + " at " + p);
        assertEquals(j.getFloat(2), s.getFloat(1), 0f, "score of id " + row.getLong(0) + " at " + p);
        assertEquals(j.getList(3), s.getList(2));
        assertEquals(r.kernel(), s.getString(3));
      }
    }
    // Default precision: int8, as joule score's.
    Row first = spark.read().format("delta").load(gen.embeddings())
        .selectExpr("joule_score('" + gen.model() + "', embedding).kernel").first();
    assertTrue(first.getString(0).endsWith("@int8"), first.getString(0));
  }

  @Test
  void scoreShipsItsKernelFromTheDriverAndDecodesItOncePerJvm() throws Exception {
    // A model no other test uses, so its kernel is new to this JVM's node.
    Path fresh = tmp.resolve("fresh-model.json");
    LinearModelFile m = LinearModelFile.read(gen.model());
    new LinearModelFile("fresh", "v-fresh", m.activation(), m.labels(), m.weights(),
        new float[m.bias().length]).write(fresh);
    long before = InProcessAcceleratorNode.shared().kernelsDecoded();
    Dataset<Row> emb = spark.read().format("delta").load(gen.embeddings()).repartition(4);
    Dataset<Row> scored = emb.selectExpr("joule_score('" + fresh + "', embedding, 'int4').label AS l")
        .where("l IS NOT NULL");
    // Analysed (and bound) above; the model file is gone before anything runs, so the tasks
    // (and the optimizer's copies of the expression) can only use what the driver bound.
    java.nio.file.Files.delete(fresh);
    assertEquals(2000, scored.count());
    assertEquals(1, InProcessAcceleratorNode.shared().kernelsDecoded() - before,
        "2000 rows in 4 partitions decode the kernel once in this JVM (driver and local executor)");
  }

  @Test
  void energyTableFunctionReadsTheEnergyLog() {
    String out = tmp.resolve("energy-out").toString();
    ScoreResult r = new ScoreJob(spark, TestSpark.config(tmp)).run(
        new ScoreJob.Request(gen.embeddings(), gen.model(), Precision.INT8, out, true));
    long logged = spark.read().format("delta").load(new OutputTables(out).energyLog())
        .where("run_id = '" + r.runId() + "'").count();
    assertTrue(logged >= 1);
    assertEquals(logged, spark.sql("SELECT * FROM joule_energy('" + r.runId() + "', '" + out + "')").count());
    spark.conf().set("spark.joule.output", out);
    try {
      assertEquals(logged, spark.sql("SELECT * FROM joule_energy('" + r.runId() + "')").count());
      assertEquals(spark.read().format("delta").load(new OutputTables(out).energyLog()).count(),
          spark.sql("SELECT * FROM joule_energy()").count());
      Row sums = spark.sql("SELECT sum(rows_scored) FROM joule_energy('" + r.runId() + "')").first();
      assertEquals(r.rowsScored(), sums.getLong(0));
    } finally {
      spark.conf().unset("spark.joule.output");
    }
    Exception e = assertThrows(Exception.class, () -> spark.sql("SELECT * FROM joule_energy('x')").count());
    assertTrue(e.getMessage().contains("joule_energy: no output folder"), e.getMessage());
  }

  @Test
  void badArgumentsNameTheFunctionAndTheArgument() {
    spark.read().format("delta").load(gen.embeddings()).createOrReplaceTempView("emb_bad");
    Map<String, String> analysis = new java.util.LinkedHashMap<>();
    analysis.put("SELECT joule_dot('x', embedding) FROM emb_bad", "joule_dot: argument a must be array<float>");
    analysis.put("SELECT joule_dot(embedding) FROM emb_bad", "joule_dot: takes 2 arguments");
    analysis.put("SELECT joule_quantize(embedding, cast(id AS string)) FROM emb_bad",
        "joule_quantize: argument precision must be a constant");
    analysis.put("SELECT joule_quantize(embedding, 'int3') FROM emb_bad", "joule_quantize: argument precision: unknown precision 'int3'");
    analysis.put("SELECT joule_quantize(embedding, 'fp32') FROM emb_bad", "joule_quantize: argument precision must be int8, int4 or binary");
    analysis.put("SELECT joule_hamming(embedding, binary('ab')) FROM emb_bad", "joule_hamming: arguments a and b must both be");
    analysis.put("SELECT joule_score('" + tmp.resolve("nope.json") + "', embedding) FROM emb_bad",
        "joule_score: argument model_path: model file not found");
    analysis.put("SELECT joule_dequantize(embedding, 1.0, 'int8', 4) FROM emb_bad", "joule_dequantize: argument codes must be binary");
    analysis.put("SELECT joule_embed(id) FROM emb_bad", "joule_embed: argument text must be string");
    analysis.put("SELECT joule_embed('x', 'bert') FROM emb_bad", "joule_embed: argument model: unknown encoder model 'bert'");
    for (Map.Entry<String, String> c : analysis.entrySet()) {
      Exception e = assertThrows(Exception.class, () -> spark.sql(c.getKey()).collectAsList(), c.getKey());
      assertTrue(e.getMessage().contains(c.getValue()), c.getKey() + " -> " + e.getMessage());
    }
    Map<String, String> perRow = new java.util.LinkedHashMap<>();
    perRow.put("SELECT joule_dot(embedding, array(1.0f, 2.0f)) FROM emb_bad", "joule_dot: argument b has 2 values, argument a has " + DIM);
    perRow.put("SELECT joule_score('" + gen.model() + "', slice(embedding, 1, 3)) FROM emb_bad",
        "joule_score: argument embedding has 3 values, model");
    perRow.put("SELECT joule_quantize(array(1.0f, cast('NaN' AS float)), 'int8')", "joule_quantize: argument embedding element 1 is NaN");
    perRow.put("SELECT joule_dequantize(binary('abc'), 1.0, 'int8', 4)", "joule_dequantize: argument codes has 3 bytes; int8 codes of dim 4 have 4");
    perRow.put("SELECT joule_dot(array(1.0f, null), array(1.0f, 2.0f))", "joule_dot: argument a element 1 is null");
    for (Map.Entry<String, String> c : perRow.entrySet()) {
      Exception e = assertThrows(Exception.class, () -> spark.sql(c.getKey()).collectAsList(), c.getKey());
      assertTrue(causeMessages(e).contains(c.getValue()), c.getKey() + " -> " + causeMessages(e));
    }
    // NULL in, NULL out.
    assertTrue(spark.sql("SELECT joule_dot(cast(null AS array<float>), array(1.0f))").first().isNullAt(0));
  }

  static String causeMessages(Throwable t) {
    StringBuilder s = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      s.append(c.getMessage()).append(" | ");
    }
    return s.toString();
  }
}
