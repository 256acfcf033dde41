package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.config.JouleConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The spark-submit line {@code joule submit --print-only} builds, and spark.joule.* conf read back. */
class SubmitCommandTest {

  @TempDir Path tmp;

  static CliIT.Run joule(String... args) {
    return CliIT.joule(args);
  }

  @Test
  void printsTheSparkSubmitLine() throws Exception {
    Path jar = Files.createFile(tmp.resolve("joule-spark-0.1.0-all.jar"));
    Path conf = Files.writeString(tmp.resolve("job.conf"), "joule.score.batch-rows = 1024\n");
    CliIT.Run r = joule("--conf", conf.toString(), "--set", "bridge.nodes=gpu-1:8815", "--set", "joule.score.keep-scores=false",
        "submit", "--master", "spark://10.0.0.1:7077", "--spark-submit", "/opt/spark/bin/spark-submit",
        "--jar", jar.toString(), "--spark-conf", "spark.executor.memory=4g", "--print-only",
        "score", "--input", "s3a://b/emb", "--model", "m.json", "--output", "s3a://b/out", "--precision", "int8");
    assertEquals(0, r.code(), r.err());
    String line = r.out().trim();
    assertEquals("/opt/spark/bin/spark-submit --master spark://10.0.0.1:7077 --deploy-mode client --class "
        + "dev.joule.jobs.Main --name 'joule score' --driver-java-options '" + SubmitCommand.EXECUTOR_JAVA_OPTIONS
        + "' --conf 'spark.executor.extraJavaOptions=" + SubmitCommand.EXECUTOR_JAVA_OPTIONS + "' "
        + "--conf spark.joule.bridge.nodes=gpu-1:8815 --conf spark.joule.score.keep-scores=false "
        + "--conf spark.executor.memory=4g --files " + conf.toAbsolutePath() + " " + jar.toAbsolutePath()
        + " --conf " + conf.toAbsolutePath() + " score --input s3a://b/emb --model m.json --output s3a://b/out "
        + "--precision int8", line);
  }

  @Test
  void badRequestsAreUsageErrors() throws Exception {
    Path jar = Files.createFile(tmp.resolve("j.jar"));
    assertEquals(2, joule("submit", "--master", "yarn", "--deploy-mode", "both", "--jar", jar.toString(),
        "--print-only", "score").code());
    CliIT.Run noJar = joule("submit", "--master", "yarn", "--spark-submit", "spark-submit", "--jar",
        tmp.resolve("missing.jar").toString(), "--print-only", "score");
    assertEquals(2, noJar.code());
    assertTrue(noJar.err().contains("is not a file"), noJar.err());
    assertEquals(2, joule("submit", "--master", "yarn", "--jar", jar.toString(), "submit", "x").code());
    Path conf = Files.writeString(tmp.resolve("job.conf"), "");
    CliIT.Run standaloneCluster = joule("--conf", conf.toString(), "submit", "--master", "spark://h:7077", "--deploy-mode",
        "cluster", "--jar", jar.toString(), "--spark-submit", "spark-submit", "--print-only", "score");
    assertEquals(2, standaloneCluster.code());
    assertTrue(standaloneCluster.err().contains("--conf FILE cannot reach a driver"), standaloneCluster.err());
    if (System.getenv("SPARK_HOME") == null) {
      CliIT.Run yarn = joule("submit", "--master", "yarn", "--jar", jar.toString(), "--print-only", "score");
      assertEquals(2, yarn.code());
      assertTrue(yarn.err().contains("needs a Spark installation"), yarn.err());
    }
  }

  @Test
  void aJarUrlPassesAndExecutorOptionsAreMerged() {
    CliIT.Run r = joule("submit", "--master", "k8s://https://api:443", "--deploy-mode", "cluster", "--spark-submit",
        "spark-submit", "--jar", "local:///opt/joule/joule-spark-all.jar", "--spark-conf",
        "spark.executor.extraJavaOptions=-XX:+UseG1GC", "--print-only", "score", "--input", "x");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("'spark.executor.extraJavaOptions=" + SubmitCommand.EXECUTOR_JAVA_OPTIONS
        + " -XX:+UseG1GC'"), r.out());
    assertTrue(r.out().contains(" local:///opt/joule/joule-spark-all.jar score --input x"), r.out());
  }

  @Test
  void sparkJouleConfKeysMapOntoTheConfig() {
    System.setProperty("spark.joule.score.batch-rows", "777");
    System.setProperty("spark.joule.bridge.nodes", "a:1,b:2");
    try {
      JouleConfig c = JouleConfig.load(null, List.of());
      assertEquals(777, c.integer("score.batch-rows"));
      assertEquals(List.of("a:1", "b:2"), c.bridgeSettings().nodes());
      assertEquals(555, JouleConfig.load(null, List.of("score.batch-rows=555")).integer("score.batch-rows"),
          "--set wins over spark.joule.*");
    } finally {
      System.clearProperty("spark.joule.score.batch-rows");
      System.clearProperty("spark.joule.bridge.nodes");
    }
  }
}
