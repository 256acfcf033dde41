package dev.joule.encoder;

import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2q.AllMiniLmL6V2QuantizedEmbeddingModel;
import java.util.Locale;

/**
 * Made reference-vectors.tsv once, from langchain4j's pipeline (not from Joule's encoder), so
 * that the stored values are an independent reference. To make them again, run this main on
 * the module's test classpath ({@code mvn -pl text-encoder dependency:build-classpath
 * -Dmdep.includeScope=test}, then {@code java -cp target/test-classes:target/classes:CP ...}).
 */
public final class ReferenceVectorsWriter {
  public static void main(String[] args) {
    System.out.println("# model\tsentence\tfirst 8 values of langchain4j " + "1.19.0-beta29's vector");
    print(EncoderModel.ALL_MINILM_L6_V2, new AllMiniLmL6V2EmbeddingModel());
    print(EncoderModel.ALL_MINILM_L6_V2_Q, new AllMiniLmL6V2QuantizedEmbeddingModel());
  }

  private static void print(EncoderModel m, EmbeddingModel ref) {
    for (int i = 0; i < SentenceEncoderTest.SENTENCES.size(); i++) {
      float[] v = ref.embed(SentenceEncoderTest.SENTENCES.get(i)).content().vector();
      StringBuilder s = new StringBuilder(m.label()).append('\t').append(i);
      for (int d = 0; d < 8; d++) {
        s.append('\t').append(String.format(Locale.ROOT, "%.6f", v[d]));
      }
      System.out.println(s);
    }
  }
}
