package dev.joule.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.encoder.EncoderModel;
import dev.joule.encoder.SentenceEncoder;
import dev.joule.jobs.config.JouleConfig;
import java.io.BufferedReader;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The text encoder on real text: Debian package descriptions ({@code bench/data/debian-descriptions.sh}).
 * For the fp32 model and its int8 export, on one thread, in one run: texts/s, thread CPU and
 * estimated energy per 1k texts (thread CPU x this machine's assumed power band), then how far
 * the int8 model's vectors are from fp32's: mean cosine, and the recall of fp32's top-10
 * neighbours of held-out texts in int8's top-10 (the rest of the set as the corpus).
 *
 * <p>{@code bench/run-embed.sh [--data FILE] [--rows N] [--queries Q] [--batch B]}
 */
public final class EmbedBench {

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  record Measured(EncoderModel model, float[][] vectors, double seconds, double cpuSeconds) {}

  public static void main(String[] args) throws Exception {
    Path data = Path.of(System.getProperty("user.home"), ".cache/joule/debian-descriptions.jsonl");
    int rows = Integer.MAX_VALUE;
    int queries = 500;
    int batch = 64;
    for (int i = 0; i < args.length; i += 2) {
      switch (args[i]) {
        case "--data" -> data = Path.of(args[i + 1]);
        case "--rows" -> rows = Integer.parseInt(args[i + 1]);
        case "--queries" -> queries = Integer.parseInt(args[i + 1]);
        case "--batch" -> batch = Integer.parseInt(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    List<String> texts = read(data, rows);
    PowerProfile power = PowerProfile.choose(JouleConfig.defaults().energySpec(1).powerProfiles(),
        HardwareProfile.detect().cpuModel());
    System.out.printf(Locale.ROOT, "%,d texts from %s; one thread; power band %s %.2f / %.2f / %.2f W per busy "
        + "vCPU (an assumption, not a measurement)%n", texts.size(), data, power.name(), power.cpuWattsLow(),
        power.cpuWattsTypical(), power.cpuWattsHigh());
    List<Measured> runs = new ArrayList<>();
    for (EncoderModel m : EncoderModel.values()) {
      try (SentenceEncoder e = SentenceEncoder.load(m)) {
        e.encode(texts.subList(0, Math.min(500, texts.size()))); // warm-up
        long t0 = System.nanoTime();
        long c0 = THREADS.getCurrentThreadCpuTime();
        float[][] v = new float[texts.size()][];
        for (int i = 0; i < texts.size(); i += batch) {
          float[][] part = e.encode(texts.subList(i, Math.min(texts.size(), i + batch))).vectors();
          System.arraycopy(part, 0, v, i, part.length);
        }
        runs.add(new Measured(m, v, (System.nanoTime() - t0) / 1e9, (THREADS.getCurrentThreadCpuTime() - c0) / 1e9));
      }
    }
    Measured fp32 = runs.get(0);
    System.out.printf(Locale.ROOT, "%n| model | texts/s | thread CPU s per 1k texts | estimated_cputime J per 1k texts, cpu part only "
        + "[low-high] | ratio to fp32 (CPU) |%n| --- | --- | --- | --- | --- |%n");
    for (Measured r : runs) {
      double cpuPer1k = r.cpuSeconds() / texts.size() * 1000;
      System.out.printf(Locale.ROOT, "| %s | %.0f | %.3f | %.2f [%.2f-%.2f] | %.2f |%n", r.model().label(),
          texts.size() / r.seconds(), cpuPer1k, cpuPer1k * power.cpuWattsTypical(), cpuPer1k * power.cpuWattsLow(),
          cpuPer1k * power.cpuWattsHigh(), r.cpuSeconds() / fp32.cpuSeconds());
    }
    Measured q = runs.get(1);
    double cos = 0;
    double minCos = 1;
    for (int i = 0; i < texts.size(); i++) {
      double c = dot(fp32.vectors()[i], q.vectors()[i]);
      cos += c;
      minCos = Math.min(minCos, c);
    }
    int step = Math.max(1, texts.size() / queries);
    double recall = 0;
    int asked = 0;
    for (int i = 0; i < texts.size() && asked < queries; i += step, asked++) {
      int[] want = top10(fp32.vectors(), i);
      int[] got = top10(q.vectors(), i);
      int hit = 0;
      for (int w : want) {
        for (int g : got) {
          hit += w == g ? 1 : 0;
        }
      }
      recall += hit / 10.0;
    }
    System.out.printf(Locale.ROOT, "%nint8 model vs fp32 on the same %,d texts: mean cosine %.4f (min %.4f); top-10 "
        + "recall %.4f (%d held-out texts, the other %,d as the corpus, cosine)%n", texts.size(), cos / texts.size(),
        minCos, recall / asked, asked, texts.size() - 1);
  }

  /** The 10 nearest other texts of {@code query} by cosine (vectors are unit length), best first. */
  static int[] top10(float[][] v, int query) {
    int[] best = new int[10];
    double[] score = new double[10];
    java.util.Arrays.fill(score, Double.NEGATIVE_INFINITY);
    for (int j = 0; j < v.length; j++) {
      if (j == query) {
        continue;
      }
      double s = dot(v[query], v[j]);
      if (s > score[9]) {
        int k = 9;
        while (k > 0 && score[k - 1] < s) {
          score[k] = score[k - 1];
          best[k] = best[k - 1];
          k--;
        }
        score[k] = s;
        best[k] = j;
      }
    }
    return best;
  }

  static double dot(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += a[i] * b[i];
    }
    return s;
  }

  static List<String> read(Path data, int rows) throws Exception {
    if (!Files.exists(data)) {
      throw new IllegalArgumentException(data + " not found: run bench/data/debian-descriptions.sh first");
    }
    ObjectMapper json = new ObjectMapper();
    List<String> texts = new ArrayList<>();
    try (BufferedReader r = Files.newBufferedReader(data)) {
      for (String line = r.readLine(); line != null && texts.size() < rows; line = r.readLine()) {
        JsonNode n = json.readTree(line);
        texts.add(n.get("text").asText());
      }
    }
    return texts;
  }
}
