package dev.joule.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Joule on a real Spark standalone cluster, all on 127.0.0.1: a Master and two Workers started
 * from Spark's Maven jars (a {@code SPARK_HOME} whose {@code jars/} is empty, the classpath given
 * through {@code spark.executor.extraClassPath}), two accelerator nodes as their own processes,
 * and {@code joule submit … score} with the joule-spark jar (Joule's settings as
 * {@code spark.joule.*} conf). One executor JVM is killed while the run is scoring: the run must
 * still commit every row exactly once, each energy row naming the executor that did the work.
 * Every process is stopped at the end, and none of them listened on anything but loopback.
 */
class StandaloneClusterIT {

  static final int ROWS = 12_000;

  /** Under target/, not a temp folder: the processes' logs stay there for a look after a failure. */
  static Path tmp;
  static final List<Process> PROCESSES = new ArrayList<>();
  static String sparkClasspath;
  static Path appJar;
  static List<String> jvmFlags;
  static int masterPort;

  @BeforeAll
  static void cluster() throws Exception {
    tmp = Path.of("target", "cluster-it").toAbsolutePath();
    if (Files.exists(tmp)) {
      try (var w = Files.walk(tmp)) {
        w.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
    Files.createDirectories(tmp);
    // Should this JVM be killed (a surefire timeout), the cluster goes with it.
    Runtime.getRuntime().addShutdownHook(new Thread(() -> PROCESSES.forEach(p -> {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
    })));
    List<String> cp = Arrays.asList(System.getProperty("java.class.path").split(File.pathSeparator));
    appJar = cp.stream().map(Path::of).filter(p -> p.getFileName().toString().matches("joule-spark-.*-all\\.jar"))
        .findFirst().orElseThrow(() -> new IllegalStateException("no joule-spark jar on the test classpath: run "
            + "`mvn verify` (the dist module packages it before this test)"));
    sparkClasspath = cp.stream().filter(e -> !e.equals(appJar.toString()) && !e.contains("junit")
        && !e.contains("opentest4j") && !e.contains("apiguardian") && !e.endsWith("test-classes")).collect(
            Collectors.joining(File.pathSeparator));
    jvmFlags = ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .filter(a -> a.startsWith("--add-") || a.startsWith("-XX:+IgnoreUnrecognized") || a.startsWith("--sun-misc")
            || a.startsWith("--enable-native-access") || a.startsWith("-Dio.netty") || a.startsWith("-Djava.net"))
        .toList();
    Path sparkHome = tmp.resolve("spark-home");
    Files.createDirectories(sparkHome.resolve("jars"));

    masterPort = freePort();
    start("master", List.of("-Xmx256m"), sparkClasspath, "org.apache.spark.deploy.master.Master",
        List.of("--host", "127.0.0.1", "--port", String.valueOf(masterPort), "--webui-port", String.valueOf(freePort())),
        Map.of());
    waitForPort(masterPort, Duration.ofSeconds(60));
    for (int w = 1; w <= 2; w++) {
      Path work = Files.createDirectories(tmp.resolve("worker-" + w));
      start("worker-" + w, List.of("-Xmx256m"), sparkClasspath, "org.apache.spark.deploy.worker.Worker",
          List.of("spark://127.0.0.1:" + masterPort, "--host", "127.0.0.1", "--port", String.valueOf(freePort()),
              "--webui-port", String.valueOf(freePort()), "--cores", "1", "--memory", "1g", "--work-dir", work.toString()),
          Map.of("SPARK_SCALA_VERSION", "2.13", "SPARK_HOME", sparkHome.toString()));
    }
    for (int w = 1; w <= 2; w++) {
      waitForLog(tmp.resolve("worker-" + w + ".log"), "Successfully registered with master", Duration.ofSeconds(90));
    }
  }

  @AfterAll
  static void stop() throws Exception {
    List<ProcessHandle> children = PROCESSES.stream().flatMap(Process::descendants).toList();
    for (Process p : PROCESSES) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroy();
    }
    List<Long> alive = new ArrayList<>();
    for (Process p : PROCESSES) {
      if (!p.waitFor(20, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
      if (p.isAlive()) {
        alive.add(p.pid());
      }
    }
    for (ProcessHandle c : children) {
      try {
        c.onExit().get(10, TimeUnit.SECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        alive.add(c.pid());
      }
    }
    assertEquals(List.of(), alive, "every process of the cluster stopped, executors and drivers included");
  }

  @Test
  void scoreSurvivesAnExecutorKilledMidRun() throws Exception {
    // Two accelerator nodes, each its own JVM, from the same jar (the bridge needs no Spark).
    int node1 = freePort();
    int node2 = freePort();
    for (int port : new int[] {node1, node2}) {
      start("node-" + port, List.of("-Xmx256m", "-Dlog4j2.configurationFile=joule-conf/log4j2.properties"),
          appJar + File.pathSeparator + sparkClasspath,
          "dev.joule.bridge.flight.AcceleratorNodeMain", List.of("--port", String.valueOf(port), "--node-id",
              "node-" + port), Map.of());
    }
    waitForPort(node1, Duration.ofSeconds(60));
    waitForPort(node2, Duration.ofSeconds(60));

    // Data, written by the same jar in local mode.
    Path gen = tmp.resolve("gen");
    Process g = start("generate", List.of("-Xmx1g"), sparkClasspath + File.pathSeparator + appJar,
        "dev.joule.jobs.Main", List.of("generate", "--rows", String.valueOf(ROWS), "--dim", "32", "--classes", "4",
            "--out", gen.toString(), "--set", "spark.master=local[2]", "--set", "spark.ui=false"), Map.of());
    assertEquals(0, g.waitFor(), () -> log("generate"));

    // joule submit: the spark-submit line for the cluster, run from Joule's own classpath.
    Path out = tmp.resolve("out");
    Process s = start("submit", List.of("-Xmx1g"), sparkClasspath + File.pathSeparator + appJar,
        "dev.joule.jobs.Main", List.of(
            "--set", "bridge.nodes=\"127.0.0.1:" + node1 + ",127.0.0.1:" + node2 + "\"",
            "--set", "bridge.fallback=fail",
            "--set", "score.batch-rows=256",
            "--set", "testing.batch-delay-ms=400",
            "--set", "spark.ui=false",
            "submit", "--master", "spark://127.0.0.1:" + masterPort, "--jar", appJar.toString(),
            "--spark-conf", "spark.driver.host=127.0.0.1",
            "--spark-conf", "spark.driver.bindAddress=127.0.0.1",
            "--spark-conf", "spark.executor.extraClassPath=" + sparkClasspath,
            "--spark-conf", "spark.executor.memory=768m",
            "--spark-conf", "spark.executor.cores=1",
            "--spark-conf", "spark.cores.max=2",
            "--spark-conf", "spark.sql.files.maxPartitionBytes=200000",
            "--spark-conf", "spark.task.maxFailures=4",
            "score", "--input", gen.resolve("embeddings").toString(), "--model",
            gen.resolve("teacher-model.json").toString(), "--precision", "int8", "--output", out.toString()),
        Map.of());

    // Kill one executor JVM while batches are in flight: a node has the kernel (pushed by the
    // first partition), and each partition streams ~6 batches of 256 rows, 400 ms apart.
    List<ProcessHandle> executors = waitForExecutors(2, Duration.ofSeconds(120));
    waitForLog(List.of(tmp.resolve("node-" + node1 + ".log"), tmp.resolve("node-" + node2 + ".log")), "pushed",
        Duration.ofSeconds(120));
    // Every listening socket, while the driver and the executors are up.
    assertOnlyLoopbackListeners("while the run is scoring", true);
    // The executors this run had, replacements included (ids from their command lines).
    Set<String> executorIds = new java.util.concurrent.ConcurrentSkipListSet<>();
    executors.forEach(e -> executorIds.add(executorId(e)));
    // The victim is an executor that has just started a task (its own log says so): a scoring
    // task runs for seconds, so the kill lands mid-task. An idle victim made the test flaky.
    ProcessHandle victim = executorWithAFreshTask(executors, Duration.ofSeconds(120));
    String victimId = executorId(victim);
    assertTrue(victim.destroyForcibly(), "kill executor " + victimId);
    Thread watcher = new Thread(() -> {
      while (s.isAlive()) {
        PROCESSES.stream().flatMap(Process::descendants).filter(h -> cmdline(h).contains("CoarseGrainedExecutorBackend"))
            .forEach(h -> executorIds.add(executorId(h)));
        try {
          Thread.sleep(200);
        } catch (InterruptedException e) {
          return;
        }
      }
    });
    watcher.setDaemon(true);
    watcher.start();

    assertTrue(s.waitFor(5, TimeUnit.MINUTES), "the submitted run ended");
    assertEquals(0, s.exitValue(), () -> log("submit"));
    String submitLog = log("submit");
    assertTrue(submitLog.contains("JOULE CLAIM CARD"), submitLog);

    SparkSession spark = SparkSession.builder().master("local[1]").appName("check")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
    try {
      var predictions = spark.read().parquet(deltaFiles(out.resolve("predictions")));
      assertEquals(ROWS, predictions.count(), "every row scored once");
      assertEquals(ROWS, predictions.select("id").distinct().count(), "no row twice");
      List<Row> energy = spark.read().parquet(deltaFiles(out.resolve("energy_log")))
          .select("executor_id", "rows_in", "node_id").collectAsList();
      assertEquals(ROWS, energy.stream().mapToLong(r -> r.getLong(1)).sum(), "energy rows add up to the input");
      Set<String> executorsInLog = new HashSet<>();
      for (Row r : energy) {
        assertFalse(r.isNullAt(0) || r.getString(0).isEmpty() || r.getString(0).equals("driver"),
            "each energy row names an executor: " + r);
        executorsInLog.add(r.getString(0));
        if (r.getLong(1) > 0) {
          assertTrue(r.getString(2).contains("node-"), "scored on an accelerator node: " + r);
        }
      }
      System.out.println("killed executor " + victimId + "; executors seen " + executorIds
          + "; energy rows by executor " + executorsInLog + "; partitions " + energy.size());
      assertTrue(executorIds.containsAll(executorsInLog), "energy rows name this run's executors " + executorIds
          + ": " + executorsInLog);
      assertTrue(executorsInLog.size() >= 2, "the work was shared: " + executorsInLog);
    } finally {
      spark.stop();
    }
    assertTrue(submitLog.contains("Executor " ) && submitLog.contains("/" + victimId + " removed"),
        "the driver saw executor " + victimId + " die");
    assertTrue(submitLog.contains("ExecutorLostFailure"), "a task was running on the killed executor: " + victimId);
    assertOnlyLoopbackListeners("after the run (Master, Workers, nodes)", false);
  }

  // ---- helpers ----

  static Process start(String name, List<String> heap, String classpath, String main, List<String> args,
      Map<String, String> env) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(jvmFlags);
    cmd.addAll(heap);
    cmd.add("-cp");
    cmd.add(classpath);
    cmd.add(main);
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(tmp.resolve(name + ".log").toFile());
    // Only what the test gives: no SPARK_HOME or SPARK_CONF_DIR of this machine leaks in.
    pb.environment().remove("SPARK_HOME");
    pb.environment().remove("SPARK_CONF_DIR");
    pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
    pb.environment().putAll(env);
    Process p = pb.start();
    PROCESSES.add(p);
    return p;
  }

  static String log(String name) {
    try {
      return Files.readString(tmp.resolve(name + ".log"));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  static void waitForPort(int port, Duration max) throws InterruptedException {
    long end = System.nanoTime() + max.toNanos();
    while (System.nanoTime() < end) {
      try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
        return;
      } catch (IOException e) {
        Thread.sleep(200);
      }
    }
    throw new AssertionError("nothing listened on 127.0.0.1:" + port + " within " + max);
  }

  static void waitForLog(Path file, String text, Duration max) throws Exception {
    waitForLog(List.of(file), text, max);
  }

  /** Until one of {@code files} says {@code text}. */
  static void waitForLog(List<Path> files, String text, Duration max) throws Exception {
    long end = System.nanoTime() + max.toNanos();
    while (System.nanoTime() < end) {
      for (Path file : files) {
        if (Files.exists(file) && Files.readString(file).contains(text)) {
          return;
        }
      }
      Thread.sleep(100);
    }
    throw new AssertionError(files + " never said '" + text + "'");
  }

  /**
   * One of {@code executors} running a task that started after the first poll: the first poll
   * that sees a new task start returns its executor (polls are 100 ms apart; a scoring task here
   * runs for seconds), after one more read of its log says the task is still open. Tasks open at
   * the first poll are ignored: they may have started long before. Each executor's log is
   * {@code <work dir>/<app>/<executor id>/stderr}, where Spark's executor logs "Running task 4.0
   * in stage 1.0 (TID 13)" and "Finished task 4.0 in stage 1.0 (TID 13)".
   */
  static ProcessHandle executorWithAFreshTask(List<ProcessHandle> executors, Duration max) throws Exception {
    Map<String, ProcessHandle> byId = new java.util.LinkedHashMap<>();
    executors.forEach(e -> byId.put(executorId(e), e));
    Set<String> atFirstPoll = null;
    long end = System.nanoTime() + max.toNanos();
    while (System.nanoTime() < end) {
      Set<String> open = new HashSet<>();
      byId.forEach((id, e) -> openTasks(id).forEach(tid -> open.add(id + "/" + tid)));
      if (atFirstPoll == null) {
        atFirstPoll = open;
      } else {
        for (String task : open) {
          String id = task.substring(0, task.indexOf('/'));
          if (!atFirstPoll.contains(task) && openTasks(id).contains(task.substring(task.indexOf('/') + 1))) {
            return byId.get(id);
          }
        }
      }
      Thread.sleep(100);
    }
    throw new AssertionError("no executor started a task within " + max + " (logs under " + tmp + ")");
  }

  /** Task ids an executor's log shows started and not finished. */
  static Set<String> openTasks(String executorId) {
    java.util.regex.Pattern running = java.util.regex.Pattern.compile("Running task .*\\(TID (\\d+)\\)");
    java.util.regex.Pattern finished = java.util.regex.Pattern.compile("Finished task .*\\(TID (\\d+)\\)");
    Set<String> started = new HashSet<>();
    Set<String> done = new HashSet<>();
    try {
      for (Path log : executorLogs(executorId)) {
        // ISO-8859-1: a line being written may end mid-character.
        for (String line : Files.readAllLines(log, java.nio.charset.StandardCharsets.ISO_8859_1)) {
          var r = running.matcher(line);
          if (r.find()) {
            started.add(r.group(1));
          }
          var f = finished.matcher(line);
          if (f.find()) {
            done.add(f.group(1));
          }
        }
      }
    } catch (IOException e) {
      return Set.of();
    }
    started.removeAll(done);
    return started;
  }

  /** The executor's stderr files in the Workers' work dirs (one per application). */
  static List<Path> executorLogs(String executorId) throws IOException {
    List<Path> logs = new ArrayList<>();
    for (int w = 1; w <= 2; w++) {
      Path work = tmp.resolve("worker-" + w);
      if (!Files.isDirectory(work)) {
        continue;
      }
      try (var apps = Files.list(work)) {
        for (Path app : apps.toList()) {
          Path log = app.resolve(executorId).resolve("stderr");
          if (Files.isRegularFile(log)) {
            logs.add(log);
          }
        }
      }
    }
    return logs;
  }

  /** The executor JVMs the Workers started (children of the Worker processes). */
  static List<ProcessHandle> waitForExecutors(int n, Duration max) throws InterruptedException {
    long end = System.nanoTime() + max.toNanos();
    while (System.nanoTime() < end) {
      List<ProcessHandle> found = PROCESSES.stream().flatMap(Process::descendants)
          .filter(h -> cmdline(h).contains("CoarseGrainedExecutorBackend")).toList();
      if (found.size() >= n) {
        return found;
      }
      Thread.sleep(200);
    }
    throw new AssertionError("fewer than " + n + " executors started within " + max + ":\n" + log("submit"));
  }

  /** A process's arguments from /proc (ProcessHandle.Info drops long command lines). */
  static List<String> args(ProcessHandle h) {
    try {
      return Arrays.asList(new String(Files.readAllBytes(Path.of("/proc", String.valueOf(h.pid()), "cmdline")),
          java.nio.charset.StandardCharsets.UTF_8).split("\0"));
    } catch (IOException e) {
      return List.of();
    }
  }

  static String cmdline(ProcessHandle h) {
    return String.join(" ", args(h));
  }

  static String executorId(ProcessHandle h) {
    String[] args = args(h).toArray(new String[0]);
    for (int i = 0; i + 1 < args.length; i++) {
      if (args[i].equals("--executor-id")) {
        return args[i + 1];
      }
    }
    return "pid " + h.pid();
  }

  /**
   * The Parquet files of a Delta table's latest snapshot, from its JSON log (this test's tables
   * have a few commits and no checkpoint; Delta itself is not on this module's classpath, on purpose).
   */
  static String[] deltaFiles(Path table) throws IOException {
    com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
    java.util.LinkedHashSet<String> files = new java.util.LinkedHashSet<>();
    List<Path> commits;
    try (var s = Files.list(table.resolve("_delta_log"))) {
      commits = s.filter(p -> p.getFileName().toString().matches("\\d{20}\\.json")).sorted().toList();
    }
    for (Path c : commits) {
      for (String line : Files.readAllLines(c)) {
        var node = json.readTree(line);
        if (node.has("add")) {
          files.add(node.get("add").get("path").asText());
        } else if (node.has("remove")) {
          files.remove(node.get("remove").get("path").asText());
        }
      }
    }
    return files.stream().map(f -> table.resolve(java.net.URLDecoder.decode(f, java.nio.charset.StandardCharsets.UTF_8))
        .toString()).toArray(String[]::new);
  }

  /** Every TCP socket our processes (and their children) listen on is bound to 127.0.0.1. */
  static void assertOnlyLoopbackListeners(String when, boolean withExecutors) throws IOException {
    Set<Long> pids = new HashSet<>();
    for (Process p : PROCESSES) {
      if (p.isAlive()) {
        pids.add(p.pid());
        p.descendants().forEach(d -> pids.add(d.pid()));
      }
    }
    Set<String> inodes = new HashSet<>();
    for (long pid : pids) {
      Path fd = Path.of("/proc", String.valueOf(pid), "fd");
      if (!Files.isDirectory(fd)) {
        continue;
      }
      try (var s = Files.list(fd)) {
        for (Path f : s.toList()) {
          try {
            String target = Files.readSymbolicLink(f).toString();
            if (target.startsWith("socket:[")) {
              inodes.add(target.substring(8, target.length() - 1));
            }
          } catch (IOException e) {
            // closed meanwhile
          }
        }
      }
    }
    List<String> bad = new ArrayList<>();
    int listening = 0;
    for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
      Path t = Path.of(table);
      if (!Files.exists(t)) {
        continue;
      }
      List<String> lines = Files.readAllLines(t);
      for (String line : lines.subList(1, lines.size())) {
        String[] f = line.trim().split("\\s+");
        if (f.length < 10 || !f[3].equals("0A") || !inodes.contains(f[9])) {
          continue; // 0A = LISTEN
        }
        listening++;
        String addr = f[1].substring(0, f[1].indexOf(':'));
        boolean loopback = addr.equals("0100007F") || addr.equals("00000000000000000000000001000000")
            || addr.equals("0000000000000000FFFF00000100007F");
        if (!loopback) {
          bad.add(table + " " + f[1]);
        }
      }
    }
    System.out.println("listening sockets " + when + ": " + listening + " in " + pids.size() + " processes, not loopback: "
        + bad);
    if (withExecutors) {
      assertTrue(pids.size() >= 8, "master, 2 workers, 2 nodes, submit, driver, executors: " + pids.size());
    }
    assertTrue(listening > 0, "the check found the cluster's listening sockets");
    assertEquals(List.of(), bad, "sockets bound beyond loopback");
  }
}
