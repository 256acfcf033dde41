package dev.joule.encoder;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The sentence encoders Joule ships: all-MiniLM-L6-v2 (Apache-2.0, 384-d, mean pooling, unit
 * length), at fp32 and as its int8 ONNX export. The model and tokenizer files are resources of
 * the langchain4j jars on Maven Central; nothing is fetched at run time.
 */
public enum EncoderModel {
  ALL_MINILM_L6_V2("all-minilm-l6-v2", "/all-minilm-l6-v2.onnx", "/all-minilm-l6-v2-tokenizer.json", "fp32", 16),
  ALL_MINILM_L6_V2_Q("all-minilm-l6-v2-q", "/all-minilm-l6-v2-q.onnx", "/all-minilm-l6-v2-q-tokenizer.json", "int8", 1);

  /** Width of every vector these models make. */
  public static final int DIM = 384;
  /**
   * Word pieces the model reads, [CLS] and [SEP] included: sentence-transformers' max_seq_length
   * for this model. A longer text is cut to its first 254 word pieces (or rejected, if asked).
   */
  public static final int MAX_TOKENS = 256;

  private final String label;
  private final String onnxResource;
  private final String tokenizerResource;
  private final String weights;
  private final int rowsPerCall;

  EncoderModel(String label, String onnxResource, String tokenizerResource, String weights, int rowsPerCall) {
    this.label = label;
    this.onnxResource = onnxResource;
    this.tokenizerResource = tokenizerResource;
    this.weights = weights;
    this.rowsPerCall = rowsPerCall;
  }

  /**
   * Texts per ONNX Runtime call. Texts are ordered by length first, so a call pads its texts to
   * nearly their own length. The int8 export quantizes its activations with one scale per call
   * (ONNX dynamic quantization), so a text's vector would depend on the texts beside it: it
   * takes one text per call, and a text's vector is the same in any batch.
   */
  public int rowsPerCall() {
    return rowsPerCall;
  }

  /** The name users write ({@code --model}) and the embeddings table's {@code model} column holds. */
  public String label() {
    return label;
  }

  /** Precision of the model's weights: fp32, or int8 for the quantized export. */
  public String weights() {
    return weights;
  }

  String onnxResource() {
    return onnxResource;
  }

  String tokenizerResource() {
    return tokenizerResource;
  }

  /** The model named {@code label}; a one-line error listing the known names otherwise. */
  public static EncoderModel of(String label) {
    for (EncoderModel m : values()) {
      if (m.label.equals(label.trim().toLowerCase(Locale.ROOT))) {
        return m;
      }
    }
    throw new IllegalArgumentException("unknown encoder model '" + label + "'; known: "
        + Arrays.stream(values()).map(EncoderModel::label).collect(Collectors.joining(", ")));
  }
}
