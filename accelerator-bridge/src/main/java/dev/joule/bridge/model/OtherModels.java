package dev.joule.bridge.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.CentroidKernel;
import dev.joule.bridge.kernel.DimensionScales;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.MlpKernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.kernel.Similarity;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;

/**
 * Model files for the other JSON ops:
 * <ul>
 *   <li>{@code mlp}: {@code w1} [hidden][dim], {@code b1}, {@code w2} [classes][hidden], {@code b2},
 *       {@code labels}, {@code activation}, {@code hidden_activation} (relu, the default, or sigmoid);
 *   <li>{@code centroid}: {@code centroids} [K][dim], {@code labels}, {@code metric} (cosine | dot).
 * </ul>
 */
final class OtherModels {

  private OtherModels() {}

  record Spec(String modelId, String modelVersion, int dim, BiFunction<Precision, DimensionScales, Kernel> build)
      implements ModelSpec {
    @Override
    public Kernel kernel(Precision precision, DimensionScales rowScales) {
      try {
        return build.apply(precision, rowScales);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("model " + modelId + ": " + e.getMessage());
      }
    }
  }

  static ModelSpec read(Path file, JsonNode root, String op) {
    String where = "model file " + file;
    List<String> labels = new ArrayList<>();
    root.path("labels").forEach(l -> labels.add(l.asText()));
    String id = root.path("model_id").asText(file.getFileName().toString());
    if (op.equals("mlp")) {
      float[][] w1 = matrix(root.path("w1"), where + ": w1");
      float[][] w2 = matrix(root.path("w2"), where + ": w2");
      float[] b1 = vector(root.path("b1"), where + ": b1");
      float[] b2 = vector(root.path("b2"), where + ": b2");
      if (w2[0].length != w1.length || b1.length != w1.length || b2.length != w2.length || labels.size() != w2.length) {
        throw new ModelFileException(where + ": shapes do not fit (w1 " + w1.length + "x" + w1[0].length
            + ", b1 " + b1.length + ", w2 " + w2.length + "x" + w2[0].length + ", b2 " + b2.length
            + ", labels " + labels.size() + ")");
      }
      Activation act;
      try {
        act = Activation.parse(root.path("activation").asText("softmax"));
      } catch (IllegalArgumentException e) {
        throw new ModelFileException(where + ": " + e.getMessage());
      }
      String version = root.hasNonNull("model_version") ? root.get("model_version").asText()
          : LinearModelFile.parameterHash(concat(w1, w2), concat(b1, b2), labels);
      MlpKernel.Hidden hidden;
      try {
        hidden = MlpKernel.Hidden.parse(root.path("hidden_activation").asText("relu"));
      } catch (IllegalArgumentException e) {
        throw new ModelFileException(where + ": " + e.getMessage());
      }
      return new Spec(id, version, w1[0].length,
          (p, e) -> MlpKernel.fromWeights(w1, b1, w2, b2, labels, act, hidden, p, e));
    }
    float[][] c = matrix(root.path("centroids"), where + ": centroids");
    if (labels.size() != c.length) {
      throw new ModelFileException(where + ": " + c.length + " centroids but " + labels.size() + " labels");
    }
    Similarity metric;
    try {
      metric = Similarity.parse(root.path("metric").asText("cosine"));
    } catch (IllegalArgumentException e) {
      throw new ModelFileException(where + ": " + e.getMessage());
    }
    String version = root.hasNonNull("model_version") ? root.get("model_version").asText()
        : LinearModelFile.parameterHash(c, new float[0], labels);
    return new Spec(id, version, c[0].length, (p, e) -> CentroidKernel.fromCentroids(c, labels, metric, p, e));
  }

  static float[][] matrix(JsonNode n, String what) {
    if (!n.isArray() || n.isEmpty() || !n.get(0).isArray() || n.get(0).isEmpty()) {
      throw new ModelFileException(what + " must be a non-empty array of arrays");
    }
    int cols = n.get(0).size();
    float[][] m = new float[n.size()][];
    for (int r = 0; r < n.size(); r++) {
      if (n.get(r).size() != cols) {
        throw new ModelFileException(what + " row " + r + " has " + n.get(r).size() + " values, expected " + cols);
      }
      m[r] = vector(n.get(r), what + "[" + r + "]");
    }
    return m;
  }

  static float[] vector(JsonNode n, String what) {
    if (!n.isArray()) {
      throw new ModelFileException(what + " must be an array of numbers");
    }
    float[] v = new float[n.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = LinearModelFile.number(n.get(i), what + "[" + i + "]");
    }
    return v;
  }

  private static float[][] concat(float[][] a, float[][] b) {
    float[][] all = new float[a.length + b.length][];
    System.arraycopy(a, 0, all, 0, a.length);
    System.arraycopy(b, 0, all, a.length, b.length);
    // parameterHash wants equal-length rows; pad to the widest.
    int w = Math.max(a[0].length, b[0].length);
    for (int i = 0; i < all.length; i++) {
      all[i] = java.util.Arrays.copyOf(all[i], w);
    }
    return all;
  }

  private static float[] concat(float[] a, float[] b) {
    float[] all = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, all, a.length, b.length);
    return all;
  }
}
