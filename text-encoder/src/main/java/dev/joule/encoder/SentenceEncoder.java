package dev.joule.encoder;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.io.IOException;
import java.io.InputStream;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Text → unit-length sentence vectors with one {@link EncoderModel}: its Hugging Face tokenizer
 * (the Rust library, through DJL), then ONNX Runtime, then mean pooling over the text's word
 * pieces and L2 normalisation, as sentence-transformers does for this model.
 *
 * <p>Thread-safe: Spark's tasks in one executor share one instance ({@link EncoderCache}).
 * ONNX Runtime runs each call on the calling thread alone (one intra-op thread, sequential
 * execution), so an executor uses as many cores as it runs tasks, and a task's thread CPU time
 * holds its inference.
 */
public final class SentenceEncoder implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(SentenceEncoder.class);
  private static final long SEP = 102;

  /**
   * What {@link #encode} made.
   *
   * @param vectors one unit-length vector per text, in the texts' order
   * @param tokens word pieces of each text, [CLS] and [SEP] included, before any cut to
   *     {@link EncoderModel#MAX_TOKENS}
   */
  public record Encoded(float[][] vectors, int[] tokens) {}

  private final EncoderModel model;
  private final String contentId;
  private final HuggingFaceTokenizer tokenizer;
  private final OrtSession session;
  private final Set<String> inputs;
  private final long modelBytes;

  private SentenceEncoder(EncoderModel model, String contentId, long modelBytes, HuggingFaceTokenizer tokenizer,
      OrtSession session) throws OrtException {
    this.model = model;
    this.modelBytes = modelBytes;
    this.contentId = contentId;
    this.tokenizer = tokenizer;
    this.session = session;
    this.inputs = session.getInputNames();
  }

  /** Loads the model's files from the classpath (about 1 s for fp32, 90 MB). */
  public static SentenceEncoder load(EncoderModel model) {
    long t0 = System.nanoTime();
    byte[] onnx = resource(model.onnxResource(), model);
    try (InputStream tok = SentenceEncoder.class.getResourceAsStream(model.tokenizerResource())) {
      if (tok == null) {
        throw new IllegalStateException(missing(model.tokenizerResource(), model));
      }
      // No cut and no padding here: the encoder counts each text's word pieces, then cuts and pads.
      HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.newInstance(tok,
          Map.of("truncation", "false", "padding", "false", "addSpecialTokens", "true"));
      OrtSession.SessionOptions options = new OrtSession.SessionOptions();
      options.setIntraOpNumThreads(1);
      options.setInterOpNumThreads(1);
      options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      OrtSession session = OrtEnvironment.getEnvironment().createSession(onnx, options);
      SentenceEncoder e = new SentenceEncoder(model, sha256(onnx), onnx.length, tokenizer, session);
      LOG.info("encoder {} loaded ({} MB, id {}) in {} ms", model.label(), onnx.length >> 20, e.contentId,
          (System.nanoTime() - t0) / 1_000_000);
      return e;
    } catch (IOException | OrtException e) {
      throw new IllegalStateException("cannot load encoder " + model.label() + ": " + e.getMessage(), e);
    }
  }

  public EncoderModel model() {
    return model;
  }

  /** SHA-256 of the model's ONNX bytes (first 16 hex digits): which weights made a vector. */
  public String contentId() {
    return contentId;
  }

  /** Size of the model's ONNX file: the weights a call reads. */
  public long modelBytes() {
    return modelBytes;
  }

  /** Texts per ONNX Runtime call ({@link EncoderModel#rowsPerCall}). */
  public int rowsPerCall() {
    return model.rowsPerCall();
  }

  /** Word pieces of {@code text}, [CLS] and [SEP] included, without any cut. */
  public int tokens(String text) {
    return tokenizer.encode(text).getIds().length;
  }

  /** Encodes {@code texts} (none null); a text over {@link EncoderModel#MAX_TOKENS} is cut to it. */
  public Encoded encode(List<String> texts) {
    return encode(texts, model.rowsPerCall());
  }

  Encoded encode(List<String> texts, int rowsPerCall) {
    int n = texts.size();
    float[][] vectors = new float[n][];
    int[] tokens = new int[n];
    if (n == 0) {
      return new Encoded(vectors, tokens);
    }
    Encoding[] enc = tokenizer.batchEncode(texts);
    long[][] ids = new long[n][];
    for (int i = 0; i < n; i++) {
      long[] all = enc[i].getIds();
      tokens[i] = all.length;
      ids[i] = cut(all);
    }
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    Arrays.sort(order, Comparator.comparingInt(i -> ids[i].length));
    try {
      for (int from = 0; from < n; from += rowsPerCall) {
        int[] group = new int[Math.min(rowsPerCall, n - from)];
        for (int g = 0; g < group.length; g++) {
          group[g] = order[from + g];
        }
        run(ids, group, vectors);
      }
    } catch (OrtException e) {
      throw new IllegalStateException("encoder " + model.label() + " failed: " + e.getMessage(), e);
    }
    return new Encoded(vectors, tokens);
  }

  /** One ONNX Runtime call over the texts {@code group}, padded to the longest of them. */
  private void run(long[][] ids, int[] group, float[][] out) throws OrtException {
    int rows = group.length;
    int len = 0;
    for (int i : group) {
      len = Math.max(len, ids[i].length);
    }
    long[] inputIds = new long[rows * len];
    long[] mask = new long[rows * len];
    for (int r = 0; r < rows; r++) {
      long[] t = ids[group[r]];
      System.arraycopy(t, 0, inputIds, r * len, t.length);
      Arrays.fill(mask, r * len, r * len + t.length, 1L);
    }
    long[] shape = {rows, len};
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    Map<String, OnnxTensor> feed = new HashMap<>();
    try {
      feed.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(inputIds), shape));
      feed.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape));
      if (inputs.contains("token_type_ids")) {
        feed.put("token_type_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(new long[rows * len]), shape));
      }
      try (OrtSession.Result result = session.run(feed)) {
        // last_hidden_state: [rows, len, DIM]
        FloatBuffer hidden = ((OnnxTensor) result.get(0)).getFloatBuffer();
        int dim = EncoderModel.DIM;
        for (int r = 0; r < rows; r++) {
          int pieces = ids[group[r]].length;
          float[] v = new float[dim];
          int base = r * len * dim;
          for (int t = 0; t < pieces; t++) {
            int at = base + t * dim;
            for (int d = 0; d < dim; d++) {
              v[d] += hidden.get(at + d);
            }
          }
          out[group[r]] = unit(v, pieces);
        }
      }
    } finally {
      feed.values().forEach(OnnxTensor::close);
    }
  }

  /** Mean of {@code pieces} summed vectors, scaled to unit length. */
  private static float[] unit(float[] sum, int pieces) {
    double norm = 0;
    for (int d = 0; d < sum.length; d++) {
      sum[d] /= pieces;
      norm += (double) sum[d] * sum[d];
    }
    float inv = (float) (1.0 / Math.max(Math.sqrt(norm), 1e-12));
    for (int d = 0; d < sum.length; d++) {
      sum[d] *= inv;
    }
    return sum;
  }

  /** The first MAX_TOKENS - 1 word pieces and the closing [SEP], as the Hugging Face tokenizer cuts. */
  private static long[] cut(long[] ids) {
    if (ids.length <= EncoderModel.MAX_TOKENS) {
      return ids;
    }
    long[] c = Arrays.copyOf(ids, EncoderModel.MAX_TOKENS);
    c[c.length - 1] = SEP;
    return c;
  }

  private static byte[] resource(String name, EncoderModel model) {
    try (InputStream in = SentenceEncoder.class.getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException(missing(name, model));
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + name + " of encoder " + model.label() + ": " + e.getMessage(), e);
    }
  }

  private static String missing(String name, EncoderModel model) {
    return "encoder " + model.label() + ": " + name + " is not on the classpath (it comes from the jar "
        + "dev.langchain4j:langchain4j-embeddings-" + model.label() + ")";
  }

  private static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes), 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void close() {
    try {
      session.close();
    } catch (OrtException e) {
      LOG.warn("closing encoder {}: {}", model.label(), e.toString());
    }
    tokenizer.close();
  }
}
