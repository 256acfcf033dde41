package dev.joule.jobs;

import dev.joule.jobs.config.JouleConfig;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code joule submit}: a thin wrapper that builds the {@code spark-submit} line for a Joule
 * command on a cluster, then runs it (or prints it with {@code --print-only}). Joule's
 * {@code --set key=value} become {@code --conf spark.joule.key=value}, which the driver maps back
 * onto its HOCON config; the executors get the Vector API module for the Panama kernels.
 */
@Command(name = "submit", mixinStandardHelpOptions = true,
    description = "Run a joule COMMAND on a Spark cluster through spark-submit (standalone, YARN, Kubernetes): "
        + "builds the spark-submit line with the joule-spark jar, the JVM options and --set as spark.joule.* conf; "
        + "--print-only prints it instead.")
public final class SubmitCommand implements Callable<Integer> {

  /** JVM options the driver needs and spark-submit does not add by itself. */
  static final String EXECUTOR_JAVA_OPTIONS = "-XX:+IgnoreUnrecognizedVMOptions --add-modules=jdk.incubator.vector";

  private static final Pattern SHELL_SAFE = Pattern.compile("[A-Za-z0-9_@%+=:,./-]+");

  @CommandLine.ParentCommand Main parent;
  @Option(names = "--master", required = true, paramLabel = "URL", description = "spark://host:7077, yarn, k8s://https://host:443, ...") String master;
  @Option(names = "--deploy-mode", defaultValue = "client", description = "client or cluster") String deployMode;
  @Option(names = "--jar", paramLabel = "FILE|URL", description = "the joule-spark jar: a file, or a URL the cluster reads (local:///..., s3a://..., hdfs://...); "
      + "default: dist/target/joule-spark-*-all.jar beside this installation") String jar;
  @Option(names = "--spark-submit", paramLabel = "PATH", description = "the spark-submit to run (default: $SPARK_HOME/bin/spark-submit, "
      + "else Spark's SparkSubmit class from Joule's own classpath)") String sparkSubmit;
  @Option(names = "--spark-conf", paramLabel = "KEY=VALUE", description = "extra Spark conf, e.g. spark.executor.memory=4g (repeatable)") List<String> sparkConf = new ArrayList<>();
  @Option(names = "--print-only", description = "print the spark-submit line, run nothing") boolean printOnly;
  @Parameters(arity = "1..*", paramLabel = "COMMAND", description = "the joule command and its options, e.g. score --input ... --model ... --output ...") List<String> command;

  @Override
  public Integer call() throws Exception {
    if (!deployMode.equals("client") && !deployMode.equals("cluster")) {
      throw JouleException.usage("--deploy-mode must be client or cluster, got '" + deployMode + "'");
    }
    if (command.get(0).equals("submit")) {
      throw JouleException.usage("joule submit submits another command, not itself");
    }
    List<String> line = line();
    if (printOnly) {
      Main.out().println(String.join(" ", line.stream().map(SubmitCommand::quote).toList()));
      return 0;
    }
    ProcessBuilder pb = new ProcessBuilder(line).inheritIO();
    if ("1".equals(System.getenv("JOULE_LOCAL_IP_DEFAULTED"))) {
      // bin/joule's loopback default is for the embedded default: a driver on a cluster must be
      // reachable from the executors' hosts.
      pb.environment().remove("SPARK_LOCAL_IP");
      pb.environment().remove("JOULE_LOCAL_IP_DEFAULTED");
    }
    return pb.start().waitFor();
  }

  /** The spark-submit command line, one argument per element. */
  List<String> line() {
    List<String> l = new ArrayList<>(launcher());
    l.addAll(List.of("--master", master, "--deploy-mode", deployMode, "--class", Main.class.getName(),
        "--name", "joule " + command.get(0)));
    // In client mode the driver is this spark-submit's JVM: spark-submit passes these to it.
    l.addAll(List.of("--driver-java-options", EXECUTOR_JAVA_OPTIONS));
    String executorOptions = EXECUTOR_JAVA_OPTIONS;
    List<String> extra = new ArrayList<>();
    for (String kv : sparkConf) {
      int eq = kv.indexOf('=');
      if (eq <= 0) {
        throw JouleException.usage("--spark-conf expects key=value, got '" + kv + "'");
      }
      if (kv.substring(0, eq).trim().equals("spark.executor.extraJavaOptions")) {
        executorOptions = EXECUTOR_JAVA_OPTIONS + " " + kv.substring(eq + 1).trim(); // both, not one over the other
      } else {
        extra.addAll(List.of("--conf", kv));
      }
    }
    l.addAll(List.of("--conf", "spark.executor.extraJavaOptions=" + executorOptions));
    for (String kv : parent.sets()) {
      int eq = kv.indexOf('=');
      if (eq <= 0) {
        throw JouleException.usage("--set expects key=value, got '" + kv + "'");
      }
      String key = kv.substring(0, eq).trim();
      key = key.startsWith("joule.") ? key.substring("joule.".length()) : key;
      l.addAll(List.of("--conf", JouleConfig.SPARK_PREFIX + key + "=" + kv.substring(eq + 1).trim()));
    }
    l.addAll(extra);
    if (parent.conf != null && deployMode.equals("cluster") && master.startsWith("spark://")) {
      throw JouleException.usage("--conf FILE cannot reach a driver that a standalone cluster starts (--deploy-mode "
          + "cluster); give the settings with --set (they travel as spark.joule.*), or use client mode");
    }
    if (parent.conf != null) {
      // The job config travels with the submission; the driver finds it by its file name.
      l.addAll(List.of("--files", parent.conf.toAbsolutePath().toString()));
    }
    l.add(appJar());
    if (parent.conf != null) {
      l.addAll(List.of("--conf", deployMode.equals("cluster") ? parent.conf.getFileName().toString()
          : parent.conf.toAbsolutePath().toString()));
    }
    l.addAll(command);
    return l;
  }

  private List<String> launcher() {
    if (sparkSubmit != null) {
      return List.of(sparkSubmit);
    }
    String home = System.getenv("SPARK_HOME");
    if (home != null && Files.isExecutable(Path.of(home, "bin", "spark-submit"))) {
      return List.of(Path.of(home, "bin", "spark-submit").toString());
    }
    if (!master.startsWith("spark://") && !master.startsWith("local")) {
      // Joule's own classpath has Spark's core, not its YARN or Kubernetes support.
      throw JouleException.usage("--master " + master + " needs a Spark installation: set SPARK_HOME or pass "
          + "--spark-submit PATH");
    }
    // No Spark installation: Spark's own SparkSubmit from the classpath Joule runs on, with the
    // JVM flags this JVM was started with (bin/joule's).
    List<String> l = new ArrayList<>();
    l.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (a.startsWith("--add-") || a.startsWith("-XX:+IgnoreUnrecognized") || a.startsWith("--sun-misc")
          || a.startsWith("--enable-native-access") || a.startsWith("-Dio.netty") || a.startsWith("-Xmx")
          || a.startsWith("-Dlog4j2.configurationFile")) {
        l.add(a);
      }
    }
    l.add("-cp");
    l.add(System.getProperty("java.class.path"));
    l.add("org.apache.spark.deploy.SparkSubmit");
    return l;
  }

  private String appJar() {
    if (jar != null) {
      if (jar.matches("[A-Za-z][A-Za-z0-9+.-]*:.*")) {
        return jar; // local:///..., s3a://..., hdfs://...: the cluster reads it, not this machine
      }
      if (!Files.isRegularFile(Path.of(jar))) {
        throw JouleException.usage("--jar " + jar + " is not a file");
      }
      return Path.of(jar).toAbsolutePath().toString();
    }
    try {
      Path found = defaultJar(Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI()));
      if (found != null) {
        return found.toString();
      }
    } catch (Exception e) { // URISyntaxException: fall through to the message
    }
    throw JouleException.usage("no joule-spark jar found: build it with `mvn -DskipTests package` "
        + "(dist/target/joule-spark-*-all.jar) or pass --jar FILE");
  }

  /** The file name of the jar dist/ builds: Joule with its dependencies, Spark excluded. */
  static final String ALL_JAR = "joule-spark-.*-all\\.jar";

  /**
   * The joule-spark jar beside an installation, found from where Joule's classes were loaded
   * ({@code self}): {@code <root>/jobs/target/jobs-*.jar} or {@code <root>/jobs/target/classes}
   * (bin/joule, tests) gives {@code <root>/dist/target/joule-spark-*-all.jar}; the joule-spark jar
   * itself gives itself. Null if there is none.
   */
  static Path defaultJar(Path self) {
    if (self.getFileName() != null && self.getFileName().toString().matches(ALL_JAR)) {
      return self;
    }
    Path root = self.getParent() == null ? null : self.getParent().getParent();
    Path dist = root == null ? null : root.resolveSibling("dist").resolve("target");
    if (dist == null || !Files.isDirectory(dist)) {
      return null;
    }
    try (var s = Files.list(dist)) {
      return s.filter(p -> p.getFileName().toString().matches(ALL_JAR)).sorted().findFirst().orElse(null);
    } catch (java.io.IOException e) {
      return null;
    }
  }

  static String quote(String a) {
    return SHELL_SAFE.matcher(a).matches() ? a : "'" + a.replace("'", "'\\''") + "'";
  }
}
