package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.encoder.EncoderModel;
import dev.joule.jobs.embed.EmbedJob;
import dev.joule.udfs.embed.LongText;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * joule embed on real text: 3,000 Debian package descriptions (bench/data/debian-descriptions.sh
 * --rows 3000; CI sets JOULE_DEBIAN_TEXT and JOULE_REQUIRE_REAL_DATA=1, so it never skips). Every
 * row is embedded or rejected, and the int8 model's vectors stay near fp32's on this real text
 * (the bench measures the same on all 63,697: mean cosine 0.9921, top-10 recall 0.893).
 */
class DebianTextIT {

  @TempDir static Path tmp;
  static SparkSession spark;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  static Path texts() {
    return RealData.file("JOULE_DEBIAN_TEXT", "debian-descriptions-3000.jsonl",
        "bench/data/debian-descriptions.sh --rows 3000");
  }

  Map<String, float[]> embed(EncoderModel model) {
    String out = tmp.resolve(model.label()).toString();
    EmbedJob.Result r = new EmbedJob(spark, TestSpark.config(tmp)).run(new EmbedJob.Request(texts().toString(),
        EmbedJob.Format.AUTO, "text", "id", out, model, 64, LongText.TRUNCATE, null));
    assertEquals(r.run().rowsIn(), r.run().rowsScored() + r.run().rowsRejected());
    assertEquals(0, r.run().rowsRejected(), "every description has text: " + r.run().rejectReasons());
    Map<String, float[]> v = new HashMap<>();
    for (Row x : spark.read().format("delta").load(out + "/embeddings").collectAsList()) {
      List<Float> l = x.getList(x.fieldIndex("embedding"));
      float[] f = new float[l.size()];
      for (int i = 0; i < f.length; i++) {
        f[i] = l.get(i);
      }
      v.put(x.getAs("id"), f);
      assertTrue(x.<String>getAs("section") != null, "the section label is kept");
    }
    assertEquals(r.run().rowsIn(), v.size(), "one row per id");
    return v;
  }

  @Test
  void realDescriptionsAreAllEmbeddedAndTheInt8ModelStaysNearFp32() {
    Map<String, float[]> fp32 = embed(EncoderModel.ALL_MINILM_L6_V2);
    Map<String, float[]> int8 = embed(EncoderModel.ALL_MINILM_L6_V2_Q);
    assertEquals(3000, fp32.size());
    List<String> ids = fp32.keySet().stream().sorted().toList();
    double cos = 0;
    for (String id : ids) {
      cos += dot(fp32.get(id), int8.get(id));
    }
    cos /= ids.size();
    double recall = 0;
    int queries = 0;
    for (int q = 0; q < ids.size(); q += 15) {
      List<String> want = top10(fp32, ids, ids.get(q));
      List<String> got = top10(int8, ids, ids.get(q));
      recall += got.stream().filter(want::contains).count() / 10.0;
      queries++;
    }
    recall /= queries;
    System.out.printf(java.util.Locale.ROOT, "Debian descriptions, 3,000: int8 model vs fp32 mean cosine %.4f, "
        + "top-10 recall %.4f over %d queries%n", cos, recall, queries);
    assertTrue(cos > 0.98, "mean cosine " + cos);
    assertTrue(recall > 0.85, "top-10 recall " + recall);
  }

  static List<String> top10(Map<String, float[]> v, List<String> ids, String query) {
    return ids.stream().filter(id -> !id.equals(query))
        .sorted(java.util.Comparator.comparingDouble((String id) -> -dot(v.get(query), v.get(id))))
        .limit(10).toList();
  }

  static double dot(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += a[i] * b[i];
    }
    return s;
  }
}
