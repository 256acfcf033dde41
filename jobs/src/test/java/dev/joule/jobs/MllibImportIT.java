package dev.joule.jobs;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.substring;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.vector.VectorOpsProvider;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.imports.MllibImport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.classification.LogisticRegression;
import org.apache.spark.ml.classification.MultilayerPerceptronClassifier;
import org.apache.spark.ml.clustering.KMeans;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.regression.LinearRegression;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * MLlib models trained here, saved, imported as Joule model files: Joule's fp32 kernels give
 * MLlib's probabilities within 1e-6 and its predictions on every row.
 */
class MllibImportIT {

  static final int DIM = 16;

  @TempDir static Path tmp;
  static SparkSession spark;
  static Dataset<Row> data;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    GenerateJob.Output gen = new GenerateJob(spark).run(
        new GenerateJob.Request(1200, DIM, 3, tmp.resolve("gen").toString(), "array", 21, 0.6));
    data = spark.read().format("delta").load(gen.embeddings())
        .withColumn("features", org.apache.spark.ml.functions.array_to_vector(col("embedding")))
        .withColumn("y", substring(col("label"), 7, 2).cast("double")) // class_02 -> 2.0
        .cache();
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  static Path saved(MLWritable model, String name) throws IOException {
    Path p = tmp.resolve("mllib").resolve(name);
    model.write().overwrite().save(p.toString());
    return p;
  }

  /** MLlib's transform against the imported model's fp32 kernel, row by row. */
  static void assertSameAnswers(Model<?> mllib, Path joule, String probabilityCol) {
    Kernel k = LinearModelFile.readAny(joule).kernel(Precision.FP32);
    List<Row> rows = mllib.transform(data).select("embedding", "prediction",
        probabilityCol == null ? "prediction" : probabilityCol).collectAsList();
    double maxErr = 0;
    for (Row r : rows) {
      List<Float> e = r.getList(0);
      float[] v = new float[e.size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = e.get(i);
      }
      KernelOutput out = k.newOutput().reset(1);
      k.score(EncodedRows.fp32(1, v.length, v), out, VectorOpsProvider.get());
      int best = dev.joule.bridge.BridgeBatches.argmax(out.scores(), 0, k.width());
      // Classifiers predict a double class index, KMeans an int cluster index.
      double predicted = ((Number) r.get(1)).doubleValue();
      assertEquals(predicted, Double.parseDouble(k.labels().get(best)), "prediction of " + java.util.Arrays.toString(v));
      if (probabilityCol != null) {
        Vector p = (Vector) r.get(2);
        for (int j = 0; j < k.width(); j++) {
          maxErr = Math.max(maxErr, Math.abs(p.apply(j) - out.scores()[j]));
        }
      }
    }
    assertTrue(maxErr <= 1e-6, "max |p_mllib - p_joule| = " + maxErr);
    System.out.printf("%s: %d rows, same predictions, max |dp| %.2e%n", k.displayName(), rows.size(), maxErr);
  }

  @Test
  void logisticRegressionMultinomialAndBinomial() throws IOException {
    var multi = new LogisticRegression().setFeaturesCol("features").setLabelCol("y").setMaxIter(50).fit(data);
    Path out = tmp.resolve("joule/lr-multi.json");
    // Through the CLI, in this session.
    int code = Main.commandLine().execute("model", "import", "--mllib", saved(multi, "lr-multi").toString(),
        "--out", out.toString());
    assertEquals(0, code);
    MllibImport.Imported m = new MllibImport(spark).run(tmp.resolve("mllib/lr-multi").toString(), out);
    assertEquals("linear", m.op());
    assertEquals(3, m.outputs());
    assertSameAnswers(multi, out, "probability");

    Dataset<Row> two = data.withColumn("y", col("y").equalTo(2.0).cast("double"));
    var bin = new LogisticRegression().setFeaturesCol("features").setLabelCol("y").setMaxIter(50).fit(two);
    Path outBin = tmp.resolve("joule/lr-bin.json");
    new MllibImport(spark).run(saved(bin, "lr-bin").toString(), outBin);
    Dataset<Row> keep = data;
    data = two;
    try {
      assertSameAnswers(bin, outBin, "probability");
    } finally {
      data = keep;
    }
  }

  @Test
  void multilayerPerceptron() throws IOException {
    var mlp = new MultilayerPerceptronClassifier().setFeaturesCol("features").setLabelCol("y")
        .setLayers(new int[] {DIM, 8, 3}).setMaxIter(60).setSeed(3).fit(data);
    Path out = tmp.resolve("joule/mlp.json");
    assertEquals("mlp", new MllibImport(spark).run(saved(mlp, "mlp").toString(), out).op());
    assertSameAnswers(mlp, out, "probability");
  }

  @Test
  void kMeansEuclideanAndCosine() throws IOException {
    var euclid = new KMeans().setFeaturesCol("features").setK(4).setSeed(5).fit(data);
    Path out = tmp.resolve("joule/kmeans.json");
    assertEquals("linear", new MllibImport(spark).run(saved(euclid, "kmeans").toString(), out).op());
    assertSameAnswers(euclid, out, null);
    var cos = new KMeans().setFeaturesCol("features").setK(4).setSeed(5).setDistanceMeasure("cosine").fit(data);
    Path outCos = tmp.resolve("joule/kmeans-cos.json");
    assertEquals("centroid", new MllibImport(spark).run(saved(cos, "kmeans-cos").toString(), outCos).op());
    assertSameAnswers(cos, outCos, null);
  }

  @Test
  void corruptOrUnsupportedFoldersAreNamed() throws IOException {
    var lin = new LinearRegression().setFeaturesCol("features").setLabelCol("y").setMaxIter(5).fit(data);
    Path linPath = saved(lin, "linreg");
    JouleException unsupported = assertThrows(JouleException.class,
        () -> new MllibImport(spark).run(linPath.toString(), tmp.resolve("x.json")));
    assertTrue(unsupported.getMessage().contains("is a org.apache.spark.ml.regression.LinearRegressionModel, which Joule does not import"),
        unsupported.getMessage());
    assertEquals(JouleException.INPUT, unsupported.exitCode());

    Path empty = Files.createDirectories(tmp.resolve("not-a-model"));
    JouleException notModel = assertThrows(JouleException.class,
        () -> new MllibImport(spark).run(empty.toString(), tmp.resolve("y.json")));
    assertTrue(notModel.getMessage().startsWith("not an MLlib model folder: " + empty), notModel.getMessage());

    var lr = new LogisticRegression().setFeaturesCol("features").setLabelCol("y").setMaxIter(5).fit(data);
    Path broken = saved(lr, "lr-broken");
    try (var files = Files.walk(broken.resolve("data"))) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        Files.delete(f);
      }
    }
    JouleException corrupt = assertThrows(JouleException.class,
        () -> new MllibImport(spark).run(broken.toString(), tmp.resolve("z.json")));
    assertTrue(corrupt.getMessage().startsWith("MLlib model " + broken + " (org.apache.spark.ml.classification.LogisticRegressionModel) could not be loaded"),
        corrupt.getMessage());
    assertTrue(!Files.exists(tmp.resolve("z.json")), "nothing written");
  }
}
