package dev.joule.bridge.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.KernelCodec;
import dev.joule.bridge.kernel.LinearKernel;
import dev.joule.bridge.kernel.Precision;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A Joule model file (JSON, {@code "format": "joule-model/1"}) holding a full-precision linear
 * model: {@code y = activation(W x + b)}. The version defaults to a hash of the parameters, so a
 * retrained model is a new version.
 */
public record LinearModelFile(String modelId, String modelVersion, Activation activation,
    List<String> labels, float[][] weights, float[] bias) implements ModelSpec {

  public static final String FORMAT = "joule-model/1";
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  @Override
  public int dim() {
    return weights[0].length;
  }

  @Override
  public LinearKernel kernel(Precision precision) {
    return kernel(precision, null);
  }

  @Override
  public LinearKernel kernel(Precision precision, dev.joule.bridge.kernel.DimensionScales rowScales) {
    try {
      return LinearKernel.fromWeights(weights, bias, labels, activation, precision,
          dev.joule.bridge.kernel.ScalingChooser.withProbes(), rowScales);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("model " + modelId + ": " + e.getMessage());
    }
  }

  /** A content hash of the parameters: the default model version. */
  public static String parameterHash(float[][] w, float[] b, List<String> labels) {
    ByteBuffer buf = ByteBuffer.allocate(4 * (w.length * w[0].length + b.length));
    for (float[] row : w) {
      for (float v : row) {
        buf.putFloat(v);
      }
    }
    for (float v : b) {
      buf.putFloat(v);
    }
    byte[] labelBytes = String.join("\u0000", labels).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    byte[] all = new byte[buf.capacity() + labelBytes.length];
    System.arraycopy(buf.array(), 0, all, 0, buf.capacity());
    System.arraycopy(labelBytes, 0, all, buf.capacity(), labelBytes.length);
    return KernelCodec.kernelId(all).substring(0, 12);
  }

  public void write(Path file) throws IOException {
    ObjectNode root = header(modelId, modelVersion, "linear", dim(), labels);
    root.put("activation", activation.label());
    root.set("bias", JSON.valueToTree(bias));
    root.set("weights", JSON.valueToTree(weights));
    writeJson(file, root);
  }

  /** Writes a two-layer mlp model file ({@code hidden} is the hidden layer's activation). */
  public static void writeMlp(Path file, String modelId, String modelVersion, float[][] w1, float[] b1,
      float[][] w2, float[] b2, List<String> labels, Activation activation,
      dev.joule.bridge.kernel.MlpKernel.Hidden hidden) throws IOException {
    ObjectNode root = header(modelId, modelVersion, "mlp", w1[0].length, labels);
    root.put("activation", activation.label());
    root.put("hidden_activation", hidden.label());
    root.set("w1", JSON.valueToTree(w1));
    root.set("b1", JSON.valueToTree(b1));
    root.set("w2", JSON.valueToTree(w2));
    root.set("b2", JSON.valueToTree(b2));
    writeJson(file, root);
  }

  /** Writes a centroid model file (nearest of K centroids by {@code metric}: cosine or dot). */
  public static void writeCentroids(Path file, String modelId, String modelVersion, float[][] centroids,
      List<String> labels, String metric) throws IOException {
    ObjectNode root = header(modelId, modelVersion, "centroid", centroids[0].length, labels);
    root.put("metric", metric);
    root.set("centroids", JSON.valueToTree(centroids));
    writeJson(file, root);
  }

  /** The fields every model file starts with. */
  private static ObjectNode header(String modelId, String modelVersion, String op, int dim, List<String> labels) {
    ObjectNode root = JSON.createObjectNode();
    root.put("format", FORMAT);
    root.put("model_id", modelId);
    root.put("model_version", modelVersion);
    root.put("op", op);
    root.put("dim", dim);
    ArrayNode l = root.putArray("labels");
    labels.forEach(l::add);
    return root;
  }

  private static void writeJson(Path file, ObjectNode root) throws IOException {
    if (file.getParent() != null) {
      Files.createDirectories(file.getParent());
    }
    JSON.writeValue(file.toFile(), root);
  }

  /** Reads any Joule model file: linear, mlp or centroid. */
  public static ModelSpec readAny(Path file) {
    JsonNode root = parse(file);
    String op = root.path("op").asText();
    switch (op) {
      case "linear":
        return read(file, root);
      case "mlp":
      case "centroid":
        return OtherModels.read(file, root, op);
      default:
        throw new ModelFileException("model file " + file + ": op '" + op
            + "' is not supported (supported: linear, mlp, centroid; top-k takes --reference)");
    }
  }

  static JsonNode parse(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new ModelFileException("model file not found: " + file);
    }
    JsonNode root;
    try {
      root = JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new ModelFileException("model file " + file + " is not valid JSON: "
          + e.getMessage().lines().findFirst().orElse(""));
    }
    if (root == null || !FORMAT.equals(root.path("format").asText())) {
      throw new ModelFileException("model file " + file + ": field 'format' must be \"" + FORMAT + "\"");
    }
    return root;
  }

  public static LinearModelFile read(Path file) {
    return read(file, parse(file));
  }

  static LinearModelFile read(Path file, JsonNode root) {
    String where = "model file " + file;
    if (!"linear".equals(root.path("op").asText())) {
      throw new ModelFileException(where + ": op '" + root.path("op").asText()
          + "' is not supported (supported: linear)");
    }
    Activation act;
    try {
      act = Activation.parse(root.path("activation").asText("softmax"));
    } catch (IllegalArgumentException e) {
      throw new ModelFileException(where + ": " + e.getMessage());
    }
    JsonNode w = root.path("weights");
    JsonNode b = root.path("bias");
    JsonNode l = root.path("labels");
    if (!w.isArray() || w.isEmpty() || !b.isArray() || !l.isArray()) {
      throw new ModelFileException(where + ": needs arrays 'weights' (non-empty), 'bias' and 'labels'");
    }
    int outputs = w.size();
    if (b.size() != outputs || l.size() != outputs) {
      throw new ModelFileException(where + ": 'weights' has " + outputs + " rows but 'bias' has "
          + b.size() + " and 'labels' " + l.size());
    }
    int dim = w.get(0).size();
    float[][] weights = new float[outputs][];
    float[] bias = new float[outputs];
    List<String> labels = new ArrayList<>();
    for (int j = 0; j < outputs; j++) {
      JsonNode row = w.get(j);
      if (!row.isArray() || row.size() != dim || dim == 0) {
        throw new ModelFileException(where + ": weights row " + j + " has " + row.size()
            + " values, expected " + dim);
      }
      weights[j] = new float[dim];
      for (int i = 0; i < dim; i++) {
        weights[j][i] = number(row.get(i), where + ": weights[" + j + "][" + i + "]");
      }
      bias[j] = number(b.get(j), where + ": bias[" + j + "]");
      labels.add(l.get(j).asText());
    }
    if (root.has("dim") && root.get("dim").asInt() != dim) {
      throw new ModelFileException(where + ": 'dim' says " + root.get("dim").asInt()
          + " but weight rows have " + dim + " values");
    }
    String id = root.path("model_id").asText(file.getFileName().toString());
    String version = root.hasNonNull("model_version") ? root.get("model_version").asText()
        : parameterHash(weights, bias, labels);
    return new LinearModelFile(id, version, act, labels, weights, bias);
  }

  static float number(JsonNode n, String what) {
    if (n == null || !n.isNumber() || !Double.isFinite(n.asDouble())) {
      throw new ModelFileException(what + " is not a finite number: " + n);
    }
    return (float) n.asDouble();
  }
}
