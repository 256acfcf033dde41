package dev.joule.encoder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2q.AllMiniLmL6V2QuantizedEmbeddingModel;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The encoder against two independent references: vectors that langchain4j's own pipeline made
 * once for a few fixed sentences (the first values of each, stored in reference-vectors.tsv),
 * and the same pipeline run now on the same and on real-looking texts.
 */
class SentenceEncoderTest {

  static final List<String> SENTENCES = List.of(
      "The quick brown fox jumps over the lazy dog.",
      "GNU C Library: shared libraries",
      "Python 3 bindings for the Apache Arrow columnar format",
      "A fast, lightweight terminal emulator with tabs and true colour.",
      "déjà vu: naïve café façade, Ünïcödé text and 日本語 too",
      "x");

  static SentenceEncoder fp32;
  static SentenceEncoder int8;

  @BeforeAll
  static void load() {
    fp32 = SentenceEncoder.load(EncoderModel.ALL_MINILM_L6_V2);
    int8 = SentenceEncoder.load(EncoderModel.ALL_MINILM_L6_V2_Q);
  }

  @AfterAll
  static void close() {
    fp32.close();
    int8.close();
  }

  @Test
  void fixedSentencesGiveTheStoredReferenceValues() throws Exception {
    List<String[]> rows = new ArrayList<>();
    try (InputStream in = SentenceEncoderTest.class.getResourceAsStream("/reference-vectors.tsv");
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      for (String line = r.readLine(); line != null; line = r.readLine()) {
        if (!line.startsWith("#") && !line.isBlank()) {
          rows.add(line.split("\t"));
        }
      }
    }
    assertEquals(2 * SENTENCES.size(), rows.size(), "one stored row per model and sentence");
    for (String[] row : rows) {
      SentenceEncoder e = EncoderModel.of(row[0]) == EncoderModel.ALL_MINILM_L6_V2 ? fp32 : int8;
      String sentence = SENTENCES.get(Integer.parseInt(row[1]));
      float[] v = e.encode(List.of(sentence)).vectors()[0];
      for (int d = 0; d + 2 < row.length; d++) {
        assertEquals(Float.parseFloat(row[d + 2]), v[d], 1e-4, row[0] + " '" + sentence + "' value " + d);
      }
    }
  }

  @Test
  void vectorsMatchLangchain4jsPipelineOnTheSameModelFiles() {
    compare(fp32, new AllMiniLmL6V2EmbeddingModel());
    compare(int8, new AllMiniLmL6V2QuantizedEmbeddingModel());
  }

  private static void compare(SentenceEncoder ours, EmbeddingModel reference) {
    float[][] batch = ours.encode(SENTENCES).vectors();
    for (int i = 0; i < SENTENCES.size(); i++) {
      float[] ref = reference.embed(SENTENCES.get(i)).content().vector();
      assertEquals(EncoderModel.DIM, batch[i].length);
      for (int d = 0; d < ref.length; d++) {
        assertEquals(ref[d], batch[i][d], 1e-4, ours.model().label() + " sentence " + i + " value " + d);
      }
    }
  }

  @Test
  void aTextsVectorDoesNotDependOnTheOtherTextsInItsCall() {
    List<String> many = new ArrayList<>();
    for (int i = 0; i < 53; i++) {
      many.add(SENTENCES.get(i % SENTENCES.size()) + " #" + i + " " + "word ".repeat(i % 23));
    }
    for (SentenceEncoder e : List.of(fp32, int8)) {
      float[][] together = e.encode(many).vectors();
      for (int i = 0; i < many.size(); i += 7) {
        assertArrayEquals(e.encode(List.of(many.get(i))).vectors()[0], together[i], 1e-5f,
            e.model().label() + " text " + i);
      }
    }
  }

  @Test
  void vectorsHaveUnitLength() {
    for (float[] v : int8.encode(SENTENCES).vectors()) {
      double n = 0;
      for (float x : v) {
        n += x * x;
      }
      assertEquals(1.0, Math.sqrt(n), 1e-5);
    }
  }

  @Test
  void aLongTextIsCutWhereTheHuggingFaceTokenizerCutsIt() throws Exception {
    String longText = "Debian package description with many words, repeated. ".repeat(60);
    SentenceEncoder.Encoded e = fp32.encode(List.of(longText));
    assertTrue(e.tokens()[0] > EncoderModel.MAX_TOKENS, "the count is of the uncut text: " + e.tokens()[0]);
    assertEquals(e.tokens()[0], fp32.tokens(longText));
    // The tokenizer's own truncation at 256 gives the text whose vector is the long text's.
    try (InputStream tok = SentenceEncoder.class.getResourceAsStream("/all-minilm-l6-v2-tokenizer.json");
        HuggingFaceTokenizer cutter = HuggingFaceTokenizer.newInstance(tok, Map.of("truncation", "true",
            "maxLength", String.valueOf(EncoderModel.MAX_TOKENS), "padding", "false"))) {
      long[] ids = cutter.encode(longText).getIds();
      assertEquals(EncoderModel.MAX_TOKENS, ids.length);
      String cut = cutter.decode(ids, true);
      assertEquals(EncoderModel.MAX_TOKENS, fp32.tokens(cut));
      assertArrayEquals(fp32.encode(List.of(cut)).vectors()[0], e.vectors()[0], 1e-5f);
    }
  }

  @Test
  void noTextsNoVectors() {
    assertEquals(0, fp32.encode(List.of()).vectors().length);
  }

  @Test
  void modelsAreNamedAsUsersWriteThem() {
    assertEquals(EncoderModel.ALL_MINILM_L6_V2_Q, EncoderModel.of(" ALL-MiniLM-L6-v2-q"));
    IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> EncoderModel.of("bert"));
    assertTrue(e.getMessage().contains("all-minilm-l6-v2, all-minilm-l6-v2-q"), e.getMessage());
  }

  @Test
  void textHashIsStableAndTellsTextsApart() {
    assertEquals(TextHash.of("abc"), TextHash.of("abc"));
    assertEquals(32, TextHash.of("abc").length());
    assertTrue(!TextHash.of("abc").equals(TextHash.of("abd")));
    // SHA-256("abc") starts ba7816bf...
    assertTrue(TextHash.of("abc").startsWith("ba7816bf8f01cfea"));
  }
}
