package dev.joule.jobs.imports;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.MlpKernel;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.jobs.JouleException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.spark.ml.classification.LogisticRegressionModel;
import org.apache.spark.ml.classification.MultilayerPerceptronClassificationModel;
import org.apache.spark.ml.clustering.KMeansModel;
import org.apache.spark.ml.linalg.Matrix;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * {@code joule model import --mllib PATH}: a Spark MLlib model saved with {@code model.save(path)}
 * becomes a Joule model file with the same semantics, so its kernels answer as MLlib does:
 * <ul>
 *   <li>{@code LogisticRegressionModel}, multinomial: softmax(W x + b), labels "0".."K-1" (MLlib's
 *       class indices). Binomial: the 2-class softmax of (0, w·x + b), i.e. [1 − σ, σ], which is
 *       MLlib's probability vector; only the default threshold 0.5 keeps argmax = MLlib's
 *       prediction, so another threshold is refused;
 *   <li>{@code MultilayerPerceptronClassificationModel} with one hidden layer: sigmoid hidden
 *       layer, softmax output, weights unpacked from MLlib's column-major layer blocks;
 *   <li>{@code KMeansModel}: euclidean as a linear model x·c − |c|²/2, whose argmax is the nearest
 *       centre (scores are not distances); cosine as a centroid model.
 * </ul>
 */
public final class MllibImport {

  /** What was imported. */
  public record Imported(String mllibClass, String modelId, String op, int dim, int outputs, Path file) {}

  private static final ObjectMapper JSON = new ObjectMapper();
  private final SparkSession spark;

  public MllibImport(SparkSession spark) {
    this.spark = spark;
  }

  public Imported run(String path, Path out) {
    return run(path, out, null);
  }

  /**
   * @param labels the class (or cluster) names in MLlib's index order, e.g. a StringIndexer's
   *     labels; null names them "0", "1", ... as MLlib's prediction column does
   */
  public Imported run(String path, Path out, List<String> labels) {
    String cls = modelClass(path);
    String id = Path.of(path.replaceAll("/+$", "")).getFileName().toString();
    try {
      switch (cls) {
        case "org.apache.spark.ml.classification.LogisticRegressionModel":
          return logistic(LogisticRegressionModel.load(path), cls, id, out, labels);
        case "org.apache.spark.ml.classification.MultilayerPerceptronClassificationModel":
          return mlp(MultilayerPerceptronClassificationModel.load(path), cls, id, out, labels);
        case "org.apache.spark.ml.clustering.KMeansModel":
          return kmeans(KMeansModel.load(path), cls, id, out, labels);
        default:
          throw JouleException.input("MLlib model " + path + " is a " + cls + ", which Joule does not import "
              + "(supported: LogisticRegressionModel, MultilayerPerceptronClassificationModel, KMeansModel)");
      }
    } catch (JouleException e) {
      throw e;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + out, e);
    } catch (Exception e) { // Spark's AnalysisException (missing data files) is checked in Java terms
      throw JouleException.input("MLlib model " + path + " (" + cls + ") could not be loaded: "
          + String.valueOf(e.getMessage()).lines().findFirst().orElse(e.toString()));
    }
  }

  /** The "class" in MLlib's metadata/part-00000 JSON, with errors that name what is missing. */
  public String modelClass(String path) {
    List<Row> lines;
    try {
      lines = spark.read().text(path + "/metadata").limit(1).collectAsList();
    } catch (Exception e) { // AnalysisException (path not found) is checked in Java terms
      throw JouleException.input("not an MLlib model folder: " + path + " has no readable metadata/ "
          + "(MLlib's model.save(path) writes metadata/part-00000)");
    }
    if (lines.isEmpty()) {
      throw JouleException.input("not an MLlib model folder: " + path + "/metadata is empty");
    }
    try {
      JsonNode meta = JSON.readTree(lines.get(0).getString(0));
      String cls = meta.path("class").asText("");
      if (cls.isEmpty()) {
        throw JouleException.input("MLlib model " + path + ": metadata has no \"class\"");
      }
      return cls;
    } catch (IOException e) {
      throw JouleException.input("MLlib model " + path + ": metadata/part-00000 is not JSON");
    }
  }

  private static List<String> classLabels(int n, List<String> names) {
    if (names != null) {
      if (names.size() != n) {
        throw JouleException.input("the model has " + n + " classes but " + names.size() + " labels were given");
      }
      return List.copyOf(names);
    }
    List<String> labels = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      labels.add(String.valueOf(i));
    }
    return labels;
  }

  private Imported logistic(LogisticRegressionModel m, String cls, String id, Path out, List<String> names)
      throws IOException {
    Matrix w = m.coefficientMatrix();
    Vector b = m.interceptVector();
    int dim = w.numCols();
    float[][] weights;
    float[] bias;
    if (w.numRows() == 1) {
      if (m.getThreshold() != 0.5) {
        throw JouleException.input("MLlib model " + id + ": binomial threshold " + m.getThreshold()
            + " is not 0.5, so MLlib's prediction is not the most probable class; Joule predicts the argmax");
      }
      weights = new float[2][dim];
      for (int j = 0; j < dim; j++) {
        weights[1][j] = (float) w.apply(0, j);
      }
      bias = new float[] {0f, (float) b.apply(0)};
    } else {
      if (m.isSet(m.thresholds())) {
        throw JouleException.input("MLlib model " + id + ": class thresholds are set, so MLlib's prediction is "
            + "not the most probable class; Joule predicts the argmax");
      }
      weights = new float[w.numRows()][dim];
      bias = new float[w.numRows()];
      for (int k = 0; k < w.numRows(); k++) {
        for (int j = 0; j < dim; j++) {
          weights[k][j] = (float) w.apply(k, j);
        }
        bias[k] = (float) b.apply(k);
      }
    }
    List<String> labels = classLabels(weights.length, names);
    new LinearModelFile(id, LinearModelFile.parameterHash(weights, bias, labels), Activation.SOFTMAX, labels,
        weights, bias).write(out);
    return new Imported(cls, id, "linear", dim, weights.length, out);
  }

  private Imported mlp(MultilayerPerceptronClassificationModel m, String cls, String id, Path out, List<String> names)
      throws IOException {
    int[] layers = m.getLayers();
    if (layers.length != 3) {
      throw JouleException.input("MLlib model " + id + ": layers " + java.util.Arrays.toString(layers)
          + "; Joule's mlp kernel has exactly one hidden layer (layers [input, hidden, classes])");
    }
    double[] wts = m.weights().toArray();
    int d = layers[0];
    int h = layers[1];
    int k = layers[2];
    if (wts.length != h * d + h + k * h + k) {
      throw JouleException.input("MLlib model " + id + ": " + wts.length + " weights for layers "
          + java.util.Arrays.toString(layers));
    }
    // MLlib's affine layer: W (out x in) column-major, then b (out), one block per layer.
    float[][] w1 = new float[h][d];
    float[] b1 = new float[h];
    float[][] w2 = new float[k][h];
    float[] b2 = new float[k];
    int o = 0;
    for (int j = 0; j < d; j++) {
      for (int i = 0; i < h; i++) {
        w1[i][j] = (float) wts[o++];
      }
    }
    for (int i = 0; i < h; i++) {
      b1[i] = (float) wts[o++];
    }
    for (int j = 0; j < h; j++) {
      for (int i = 0; i < k; i++) {
        w2[i][j] = (float) wts[o++];
      }
    }
    for (int i = 0; i < k; i++) {
      b2[i] = (float) wts[o++];
    }
    List<String> labels = classLabels(k, names);
    float[] flat = new float[wts.length];
    for (int i = 0; i < wts.length; i++) {
      flat[i] = (float) wts[i];
    }
    String version = LinearModelFile.parameterHash(new float[][] {flat}, new float[0], labels);
    LinearModelFile.writeMlp(out, id, version, w1, b1, w2, b2, labels, Activation.SOFTMAX, MlpKernel.Hidden.SIGMOID);
    return new Imported(cls, id, "mlp", d, k, out);
  }

  private Imported kmeans(KMeansModel m, String cls, String id, Path out, List<String> names)
      throws IOException {
    Vector[] centres = m.clusterCenters();
    int dim = centres[0].size();
    float[][] c = new float[centres.length][dim];
    float[] bias = new float[centres.length];
    for (int i = 0; i < centres.length; i++) {
      double sq = 0;
      for (int j = 0; j < dim; j++) {
        c[i][j] = (float) centres[i].apply(j);
        sq += centres[i].apply(j) * centres[i].apply(j);
      }
      bias[i] = (float) (-sq / 2);
    }
    List<String> labels = classLabels(centres.length, names);
    String measure = m.getDistanceMeasure().toLowerCase(Locale.ROOT);
    String version = LinearModelFile.parameterHash(c, bias, labels);
    if (measure.equals("euclidean")) {
      new LinearModelFile(id, version, Activation.RAW, labels, c, bias).write(out);
      return new Imported(cls, id, "linear", dim, centres.length, out);
    }
    if (measure.equals("cosine")) {
      LinearModelFile.writeCentroids(out, id, version, c, labels, "cosine");
      return new Imported(cls, id, "centroid", dim, centres.length, out);
    }
    throw JouleException.input("MLlib model " + id + ": distance measure " + measure + " is not supported (euclidean, cosine)");
  }
}
