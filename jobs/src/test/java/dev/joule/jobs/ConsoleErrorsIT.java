package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.joule.jobs.generate.GenerateJob;
import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One line per error on the console, as a user sees it: the CLI in a child JVM with the real
 * logging configuration (the one bin/joule and the jar use, not the tests'), stderr captured. The
 * detail (library log lines, stack traces) is in the run's log file.
 */
class ConsoleErrorsIT {

  @TempDir static Path tmp;
  static String data;

  @BeforeAll
  static void data() {
    SparkSession spark = TestSpark.start(tmp);
    try {
      data = tmp.resolve("gen").toString();
      new GenerateJob(spark).run(new GenerateJob.Request(2_000, 8, 3, data, "array", 7, 0.3));
    } finally {
      spark.stop();
    }
  }

  record Run(int code, List<String> err, String out, Path logDir) {
    /** The log file the run wrote (one per run). */
    String log() throws IOException {
      try (Stream<Path> s = Files.list(logDir)) {
        List<Path> files = s.toList();
        assertEquals(1, files.size(), "one log file per run: " + files);
        return Files.readString(files.get(0), StandardCharsets.UTF_8);
      }
    }
  }

  /** {@code joule ARGS} in a child JVM as bin/joule starts it, with its own log folder. */
  static Run joule(String name, Map<String, String> env, String... args) throws Exception {
    return joule(tmp.resolve(name), env, args);
  }

  /** As above, run in (and logging under) {@code folder}; other test classes use this one. */
  static Run joule(Path folder, Map<String, String> env, String... args) throws Exception {
    return joule(folder, env, List.of("-Xmx1g"), args);
  }

  /** As above, with these JVM options (a heap size, say) instead of {@code -Xmx1g}. */
  static Run joule(Path folder, Map<String, String> env, List<String> jvmOptions, String... args) throws Exception {
    Path dir = Files.createDirectories(folder);
    Path logDir = Files.createDirectories(dir.resolve("logs"));
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .filter(a -> a.startsWith("--add-") || a.startsWith("-XX:+IgnoreUnrecognized") || a.startsWith("--sun-misc")
            || a.startsWith("--enable-native-access") || a.startsWith("-Dio.netty") || a.startsWith("-Djava.net"))
        .toList());
    cmd.addAll(jvmOptions);
    cmd.add("-cp");
    // The test classes hold the tests' quieter log4j2-test.properties: the CLI must not see them.
    cmd.add(Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
        .filter(e -> !e.endsWith("test-classes") && !e.contains("junit") && !e.contains("opentest4j"))
        .collect(Collectors.joining(File.pathSeparator)));
    cmd.add(Main.class.getName());
    cmd.addAll(List.of(args));
    cmd.addAll(List.of("--set", "spark.master=local[2]", "--set", "spark.ui=false"));
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile())
        .redirectOutput(dir.resolve("out.txt").toFile()).redirectError(dir.resolve("err.txt").toFile());
    pb.environment().remove("JOULE_DEBUG");
    pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
    pb.environment().put("JOULE_LOG_DIR", logDir.toString());
    pb.environment().putAll(env);
    Process p = pb.start();
    if (!p.waitFor(300, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("joule " + String.join(" ", args) + " did not finish in 300 s");
    }
    List<String> err = Files.readAllLines(dir.resolve("err.txt"), StandardCharsets.UTF_8).stream()
        // The JVM's own start-up line (bin/joule filters it; this test starts java directly).
        .filter(l -> !l.startsWith("WARNING: Using incubator modules")).toList();
    return new Run(p.exitValue(), err, Files.readString(dir.resolve("out.txt"), StandardCharsets.UTF_8), logDir);
  }

  static void assertOneLineError(Run r, String contains) {
    String all = String.join("\n", r.err());
    assertEquals(1, r.err().stream().filter(l -> l.startsWith("joule: error: ")).count(), all);
    assertTrue(all.contains(contains), all);
    assertFalse(r.err().stream().anyMatch(l -> l.matches("\\s+at .*") || l.startsWith("Caused by")
        || l.matches("\\s*\\.\\.\\. \\d+ more")), "no stack trace on the console:\n" + all);
    // Only Joule's own lines (INFO, and WARN about a node) may precede the error: no Spark, Hadoop, gRPC lines.
    for (String l : r.err()) {
      if (l.matches("\\d\\d:\\d\\d:\\d\\d \\w+ +\\w+: .*")) {
        assertFalse(l.matches("\\d\\d:\\d\\d:\\d\\d (ERROR|WARN) +(Executor|TaskSetManager|Utils|FileFormatWriter|"
            + "FileStreamSink|FileOutputCommitter|SparkHadoopWriter|TaskSchedulerImpl|DAGScheduler): .*"),
            "library log line on the console: " + l);
      }
    }
    // Counted without repeats: each task that meets a dead node says so, and how many tasks
    // start before the first failure stops the job is a matter of timing.
    long distinct = r.err().stream().map(l -> l.replaceFirst("^\\d\\d:\\d\\d:\\d\\d ", "")).distinct().count();
    assertTrue(distinct <= 10, "a few lines at most, got " + distinct + " different ones:\n" + all);
  }

  @Test
  void aFlightNodeThatIsDownIsOneLineAndTheStackIsInTheLogFile() throws Exception {
    Run r = joule("node-down", Map.of(), "score", "--input", data + "/embeddings", "--model",
        data + "/teacher-model.json", "--output", tmp.resolve("node-down/scores").toString(),
        "--set", "bridge.nodes=[\"127.0.0.1:1\"]", "--set", "bridge.fallback=fail");
    assertEquals(1, r.code(), String.join("\n", r.err()));
    assertOneLineError(r, "Connection refused");
    String last = r.err().get(r.err().size() - 1);
    assertTrue(last.startsWith("joule: details and stack trace in " + r.logDir()), "the hint names the log file: " + last);
    String log = r.log();
    assertTrue(log.contains("Lost task") && log.contains("\tat "), "Spark's task failure, with its stack, is in the log");
    assertTrue(log.contains("joule.cli: joule score") && log.contains("NodeException"), "the CLI's error too");
  }

  @Test
  void aFolderThatIsNotAModelIsOneLine() throws Exception {
    Path notAModel = Files.createDirectories(tmp.resolve("not-a-model"));
    Files.writeString(notAModel.resolve("readme.txt"), "hello");
    Run r = joule("not-a-model", Map.of(), "model", "import", "--mllib", notAModel.toString(),
        "--out", tmp.resolve("m.json").toString());
    assertEquals(3, r.code(), String.join("\n", r.err()));
    assertOneLineError(r, "not an MLlib model folder");
    assertTrue(r.err().size() <= 3, String.join("\n", r.err()));
    assertTrue(r.log().contains("FileStreamSink"), "Spark's warning went to the log file");

    // JOULE_DEBUG=1: the same run prints the detail on the console too.
    Run debug = joule("not-a-model-debug", Map.of("JOULE_DEBUG", "1"), "model", "import", "--mllib",
        notAModel.toString(), "--out", tmp.resolve("m.json").toString());
    assertEquals(3, debug.code());
    String all = String.join("\n", debug.err());
    assertTrue(all.contains("FileStreamSink") && all.contains("\tat "), all);
  }
}
