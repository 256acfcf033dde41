package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.generate.GenerateJob;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * No litter (issue 16, item 12): no empty {@code spark-warehouse/} in the working folder, no
 * empty rejects tables when nothing was rejected, no empty {@code --work} folder from replicate.
 */
class NoLitterIT {

  @TempDir static Path tmp;
  static SparkSession spark;
  static GenerateJob.Output gen;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    gen = new GenerateJob(spark).run(new GenerateJob.Request(1000, 16, 4, tmp.resolve("gen").toString(), "array", 5, 0.3));
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  @Test
  void nothingRejectedMeansNoRejectsTable() throws Exception {
    String codes = tmp.resolve("codes").toString();
    CliIT.Run q = CliIT.joule("quantize", "--input", gen.embeddings(), "--precision", "int8", "--output", codes);
    assertEquals(0, q.code(), q.err());
    assertTrue(q.out().contains("rejects: none"), q.out());
    assertFalse(Files.exists(Path.of(codes + "_rejects")), "no empty rejects table");

    Path jsonl = Files.writeString(tmp.resolve("clean.jsonl"),
        "{\"id\": \"a\", \"embedding\": [1.0, 2.0]}\n{\"id\": \"b\", \"embedding\": [3.0, 4.0]}\n");
    String imported = tmp.resolve("imported").toString();
    CliIT.Run i = CliIT.joule("import", "--format", "jsonl", "--input", jsonl.toString(), "--out", imported);
    assertEquals(0, i.code(), i.err());
    assertTrue(i.out().contains("rejects: none"), i.out());
    assertFalse(Files.exists(Path.of(imported + "_rejects")), "no empty rejects table");

    // With rejects, the table is written, and a later clean run empties it (no stale rejects).
    Files.writeString(jsonl, "{\"id\": \"a\", \"embedding\": [1.0, 2.0]}\n{\"id\": null, \"embedding\": [3.0, 4.0]}\n");
    CliIT.Run bad = CliIT.joule("import", "--format", "jsonl", "--input", jsonl.toString(), "--out", imported);
    assertEquals(0, bad.code(), bad.err());
    assertEquals(1, spark.read().format("delta").load(imported + "_rejects").count());
    Files.writeString(jsonl, "{\"id\": \"a\", \"embedding\": [1.0, 2.0]}\n");
    assertEquals(0, CliIT.joule("import", "--format", "jsonl", "--input", jsonl.toString(), "--out", imported).code());
    assertEquals(0, spark.read().format("delta").load(imported + "_rejects").count());
  }

  @Test
  void replicateRemovesTheWorkFolderItCreated() {
    Path work = tmp.resolve("replicate-scratch");
    CliIT.Run r = CliIT.joule("replicate", "--input", gen.embeddings(), "--model", gen.model().toString(),
        "--precisions", "fp32,int8", "--warmup-rows", "100", "--work", work.resolve("work").toString());
    assertEquals(0, r.code(), r.err());
    assertFalse(Files.exists(work), "no empty --work folder (nor its parent) left behind");

    // A --work folder that was there before stays.
    Path mine = tmp.resolve("my-scratch");
    assertTrue(mine.toFile().mkdirs());
    assertEquals(0, CliIT.joule("replicate", "--input", gen.embeddings(), "--model", gen.model().toString(),
        "--precisions", "fp32", "--warmup-rows", "100", "--work", mine.toString()).code());
    assertTrue(Files.isDirectory(mine));
  }

  /**
   * {@code joule quantize} in its own JVM, as bin/joule runs it, from an empty working folder: its
   * {@code ALTER TABLE delta.`path`} goes through Spark's catalog, which made {@code
   * ./spark-warehouse} (so did the demo, which quantizes).
   */
  @Test
  void noSparkWarehouseInTheWorkingFolder() throws Exception {
    Path cwd = Files.createDirectories(tmp.resolve("cwd"));
    Path jtmp = Files.createDirectories(tmp.resolve("java-tmp"));
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (!a.startsWith("-javaagent") && !a.startsWith("-agentlib") && !a.startsWith("-Djava.io.tmpdir")) {
        cmd.add(a);
      }
    }
    cmd.addAll(List.of("-Xmx1g", "-Djava.io.tmpdir=" + jtmp, "-cp", System.getProperty("java.class.path"),
        Main.class.getName(), "quantize", "--input", gen.embeddings(), "--precision", "int8",
        "--output", tmp.resolve("codes-subprocess").toString(), "--set", "spark.master=local[2]", "--set", "spark.ui=false"));
    Path log = tmp.resolve("quantize.log");
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
    Process p = pb.start();
    try {
      assertTrue(p.waitFor(600, TimeUnit.SECONDS), "quantize finished: " + Files.readString(log));
    } finally {
      p.destroyForcibly();
    }
    assertEquals(0, p.exitValue(), Files.readString(log));
    assertTrue(Files.readString(log).contains("quantized 1,000 at int8"), Files.readString(log));
    try (Stream<Path> s = Files.list(cwd)) {
      assertEquals(List.of(), s.map(x -> x.getFileName().toString()).toList(), "nothing left in the working folder");
    }
    try (Stream<Path> s = Files.list(jtmp)) {
      assertTrue(s.noneMatch(x -> x.getFileName().toString().startsWith("joule-spark-warehouse")),
          "the scratch warehouse is removed at exit");
    }
  }
}
