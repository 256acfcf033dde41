package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Every example in {@code conf/scheduling/} submits what {@code joule submit --print-only} would
 * for the same master, deploy mode, Spark confs and command: the joule-spark jar that dist/ builds
 * (found as submit finds it beside an installation at /opt/joule), the main class, the Vector API
 * module for the driver and the executors, the job config shipped and passed. The examples are
 * read, not run: a shell script (spark-submit, backslash continuations), a crontab or systemd unit
 * that calls such a script, and an Airflow DAG (SparkSubmitOperator's arguments).
 */
class SchedulingExamplesTest {

  /** Where the examples assume Joule is installed. */
  static final String INSTALL = "/opt/joule";

  @TempDir Path tmp;

  /** One spark-submit, reduced to what matters: the order of options is spark-submit's business. */
  record Submission(String master, String deployMode, String mainClass, String name, String files,
      Map<String, String> conf, String jar, List<String> args) {}

  @Test
  void everyExampleSubmitsWhatJouleSubmitWould() throws IOException {
    Path dir = repoRoot().resolve("conf/scheduling");
    List<Path> files;
    try (var s = Files.list(dir)) {
      files = s.filter(Files::isRegularFile).sorted().toList();
    }
    assertFalse(files.isEmpty());
    String expectedJar = expectedJar();
    List<String> problems = new ArrayList<>();
    int checked = 0;
    for (Path f : files) {
      String name = f.getFileName().toString();
      String text = Files.readString(f);
      // Whatever jar an example names, it is the one dist/ builds: the jobs jar holds no dependencies.
      Matcher jars = Pattern.compile("[^\\s\"'=]+\\.jar\\b").matcher(text);
      while (jars.find()) {
        if (!jars.group().equals(expectedJar)) {
          problems.add(name + ": names the jar " + jars.group() + ", not " + expectedJar);
        }
      }
      try {
        if (name.endsWith(".py")) {
          check(name, fromDag(text), problems);
          checked++;
        } else if (name.endsWith(".sh")) {
          check(name, fromShell(text), problems);
          checked++;
        } else if (name.endsWith(".cron") || name.endsWith(".service")) {
          String command = name.endsWith(".cron") ? cronCommand(text) : execStart(text);
          if (command.contains("spark-submit")) {
            check(name, fromShell(command), problems);
          } else {
            // It calls a script among the examples, which is checked itself.
            Matcher script = Pattern.compile(Pattern.quote(INSTALL + "/conf/scheduling/") + "([\\w.-]+\\.sh)")
                .matcher(command);
            if (!script.find() || !Files.isRegularFile(dir.resolve(script.group(1)))) {
              problems.add(name + ": runs neither spark-submit nor a script in conf/scheduling: " + command);
            }
          }
          checked++;
        } else if (name.endsWith(".timer")) {
          assertFalse(text.contains("ExecStart"), name + " only triggers its service");
        } else {
          problems.add(name + ": an example SchedulingExamplesTest cannot read; teach it how");
        }
      } catch (RuntimeException e) {
        problems.add(name + ": " + e.getMessage());
      }
    }
    assertTrue(problems.isEmpty(), String.join("\n", problems));
    assertTrue(checked >= 4, "the DAG, the script, the crontab and the service: " + files);
  }

  /** The same submission built by {@code joule submit --print-only}'s own code, compared field by field. */
  private void check(String example, Submission ex, List<String> problems) throws IOException {
    Submission want = fromSubmit(ex);
    String[] fields = {"master", "deploy mode", "main class", "name", "files", "conf", "jar", "application args"};
    Object[] got = {ex.master(), ex.deployMode(), ex.mainClass(), ex.name(), ex.files(), ex.conf(), ex.jar(), ex.args()};
    Object[] exp = {want.master(), want.deployMode(), want.mainClass(), want.name(), want.files(), want.conf(), want.jar(),
        want.args()};
    for (int i = 0; i < fields.length; i++) {
      if (!java.util.Objects.equals(got[i], exp[i])) {
        problems.add(example + ": " + fields[i] + " is " + got[i] + "; joule submit gives " + exp[i]);
      }
    }
  }

  /**
   * What {@code joule [--conf F] [--set k=v…] submit --master M --deploy-mode D [--spark-conf k=v…]
   * COMMAND…} builds, for the example's master, deploy mode, extra Spark confs, job config and
   * command; with the jar submit finds beside a copy of the installation's layout.
   */
  private Submission fromSubmit(Submission ex) throws IOException {
    List<String> args = new ArrayList<>();
    List<String> appArgs = new ArrayList<>(ex.args());
    if (appArgs.size() >= 2 && appArgs.get(0).equals("--conf")) {
      args.addAll(List.of("--conf", appArgs.get(1)));
      appArgs = appArgs.subList(2, appArgs.size());
    }
    List<String> extra = new ArrayList<>();
    ex.conf().forEach((k, v) -> {
      if (k.startsWith("spark.joule.")) {
        args.addAll(List.of("--set", k.substring("spark.joule.".length()) + "=" + v));
      } else if (!k.equals("spark.executor.extraJavaOptions") && !k.equals("spark.driver.extraJavaOptions")) {
        extra.addAll(List.of("--spark-conf", k + "=" + v));
      }
    });
    Path fakeJar = installedJar();
    args.addAll(List.of("submit", "--master", ex.master() == null ? "spark://spark-master:7077" : ex.master(),
        "--deploy-mode", ex.deployMode(), "--spark-submit", "spark-submit", "--jar", fakeJar.toString()));
    args.addAll(extra);
    args.addAll(appArgs);
    CommandLine cl = Main.commandLine();
    CommandLine.ParseResult parsed = cl.parseArgs(args.toArray(String[]::new));
    SubmitCommand submit = (SubmitCommand) parsed.subcommand().commandSpec().userObject();
    List<String> line = new ArrayList<>(submit.line());
    line.replaceAll(a -> a.equals(fakeJar.toString()) ? INSTALL + "/" + tmp.relativize(fakeJar) : a);
    assertEquals("spark-submit", line.get(0));
    Submission s = parseSparkSubmit(line.subList(1, line.size()));
    // The DAG leaves the master to its Airflow connection.
    return ex.master() == null ? new Submission(null, s.deployMode(), s.mainClass(), s.name(), s.files(), s.conf(),
        s.jar(), s.args()) : s;
  }

  /** The jar {@code joule submit} picks beside an installation laid out as the build leaves it. */
  private Path installedJar() throws IOException {
    String version = projectVersion();
    Path jobsJar = tmp.resolve("jobs/target/jobs-" + version + ".jar");
    Files.createDirectories(jobsJar.getParent());
    Files.write(jobsJar, new byte[0]);
    Path dist = Files.createDirectories(tmp.resolve("dist/target"));
    Files.write(dist.resolve("joule-spark-" + version + ".jar"), new byte[0]); // the shade plugin's thin jar
    Files.write(dist.resolve("joule-spark-" + version + "-all.jar"), new byte[0]);
    Path found = SubmitCommand.defaultJar(jobsJar);
    assertNotNull(found, "joule submit finds no jar beside " + jobsJar);
    return found;
  }

  private String expectedJar() throws IOException {
    return INSTALL + "/" + tmp.relativize(installedJar());
  }

  // --- reading the examples ---

  /** spark-submit's options, after the launcher. */
  static Submission parseSparkSubmit(List<String> a) {
    Map<String, String> opts = new HashMap<>();
    Map<String, String> conf = new TreeMap<>();
    int i = 0;
    while (i < a.size() && a.get(i).startsWith("--")) {
      String o = a.get(i);
      String v = a.get(i + 1);
      switch (o) {
        case "--conf" -> conf.put(v.substring(0, v.indexOf('=')), v.substring(v.indexOf('=') + 1));
        case "--driver-java-options" -> conf.put("spark.driver.extraJavaOptions", v);
        default -> opts.put(o, v);
      }
      i += 2;
    }
    if (i >= a.size()) {
      throw new IllegalArgumentException("no application jar after spark-submit's options: " + a);
    }
    return new Submission(opts.get("--master"), opts.getOrDefault("--deploy-mode", "client"), opts.get("--class"),
        opts.get("--name"), opts.get("--files"), conf, a.get(i), List.copyOf(a.subList(i + 1, a.size())));
  }

  /** The spark-submit command of a shell script or command line. */
  static Submission fromShell(String text) {
    for (String line : text.replaceAll("\\\\\\r?\\n", " ").split("\\r?\\n")) {
      if (line.trim().startsWith("#") || !line.contains("spark-submit")) {
        continue;
      }
      List<String> words = shellWords(line);
      for (int i = 0; i < words.size(); i++) {
        if (words.get(i).endsWith("bin/spark-submit") || words.get(i).equals("spark-submit")) {
          List<String> rest = new ArrayList<>();
          for (String w : words.subList(i + 1, words.size())) {
            if (w.equals(">>") || w.equals(">") || w.equals("&&") || w.equals(";") || w.equals("|")) {
              break;
            }
            rest.add(w);
          }
          return parseSparkSubmit(rest);
        }
      }
    }
    throw new IllegalArgumentException("no spark-submit command");
  }

  /** Words as the shell splits them; quotes removed, $(...) and $VAR kept as written. */
  static List<String> shellWords(String line) {
    List<String> words = new ArrayList<>();
    StringBuilder w = new StringBuilder();
    boolean inWord = false;
    for (int i = 0; i < line.length(); i++) {
      char c = line.charAt(i);
      if (c == '\'') {
        int end = line.indexOf('\'', i + 1);
        w.append(line, i + 1, end);
        i = end;
        inWord = true;
      } else if (c == '"') {
        int j = i + 1;
        for (; line.charAt(j) != '"'; j++) {
          if (line.charAt(j) == '\\') {
            j++;
          }
          w.append(line.charAt(j));
        }
        i = j;
        inWord = true;
      } else if (c == '\\' && i + 1 < line.length()) {
        w.append(line.charAt(++i));
        inWord = true;
      } else if (Character.isWhitespace(c)) {
        if (inWord) {
          words.add(w.toString());
          w.setLength(0);
          inWord = false;
        }
      } else if (c == '#' && !inWord) {
        break;
      } else {
        w.append(c);
        inWord = true;
      }
    }
    if (inWord) {
      words.add(w.toString());
    }
    return words;
  }

  /** A crontab's command: the line's sixth field on. */
  static String cronCommand(String text) {
    for (String line : text.split("\\r?\\n")) {
      String t = line.trim();
      if (!t.isEmpty() && !t.startsWith("#") && !t.contains("=")) {
        return t.split("\\s+", 6)[5].replace("\\%", "%");
      }
    }
    throw new IllegalArgumentException("no crontab line");
  }

  static String execStart(String text) {
    Matcher m = Pattern.compile("(?m)^ExecStart=(.*)$").matcher(text);
    if (!m.find()) {
      throw new IllegalArgumentException("no ExecStart");
    }
    return m.group(1).replace("%%", "%");
  }

  private static final Pattern PY_STRING = Pattern.compile("\"((?:[^\"\\\\]|\\\\.)*)\"");

  /** SparkSubmitOperator's arguments, with the DAG's module-level string constants resolved. */
  static Submission fromDag(String text) {
    Map<String, String> constants = new HashMap<>();
    Matcher c = Pattern.compile("(?m)^([A-Z_][A-Z0-9_]*)\\s*=\\s*\"((?:[^\"\\\\]|\\\\.)*)\"\\s*(#.*)?$").matcher(text);
    while (c.find()) {
      constants.put(c.group(1), c.group(2));
    }
    int op = text.indexOf("SparkSubmitOperator(", text.indexOf("import SparkSubmitOperator") + 1);
    if (op < 0) {
      throw new IllegalArgumentException("no SparkSubmitOperator(...)");
    }
    String call = text.substring(op);
    Map<String, String> conf = new TreeMap<>();
    Matcher d = Pattern.compile("(?s)\\bconf\\s*=\\s*\\{(.*?)}").matcher(call);
    if (d.find()) {
      Matcher kv = Pattern.compile("\"([^\"]*)\"\\s*:\\s*(\"(?:[^\"\\\\]|\\\\.)*\"|[A-Za-z_]\\w*)").matcher(d.group(1));
      while (kv.find()) {
        conf.put(kv.group(1), value(kv.group(2), constants));
      }
    }
    List<String> args = new ArrayList<>();
    Matcher l = Pattern.compile("(?s)\\bapplication_args\\s*=\\s*\\[(.*?)]").matcher(call);
    if (l.find()) {
      for (String item : l.group(1).split(",")) {
        if (!item.isBlank()) {
          args.add(value(item.trim(), constants));
        }
      }
    }
    String deployMode = kwarg(call, "deploy_mode", constants);
    return new Submission(null, deployMode == null ? "client" : deployMode, kwarg(call, "java_class", constants),
        kwarg(call, "name", constants), kwarg(call, "files", constants), conf, kwarg(call, "application", constants), args);
  }

  private static String kwarg(String call, String name, Map<String, String> constants) {
    Matcher m = Pattern.compile("\\b" + name + "\\s*=\\s*(\"(?:[^\"\\\\]|\\\\.)*\"|[A-Za-z_]\\w*)").matcher(call);
    return m.find() ? value(m.group(1), constants) : null;
  }

  private static String value(String expr, Map<String, String> constants) {
    Matcher s = PY_STRING.matcher(expr);
    if (s.matches()) {
      return s.group(1).replace("\\\"", "\"").replace("\\\\", "\\");
    }
    String v = constants.get(expr);
    if (v == null) {
      fail("cannot read the Python expression " + expr + " (use a string or a module-level string constant)");
    }
    return v;
  }

  // --- the project ---

  static Path repoRoot() {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      if (Files.isDirectory(p.resolve("conf/scheduling")) && Files.isRegularFile(p.resolve("pom.xml"))) {
        return p;
      }
    }
    throw new IllegalStateException("no conf/scheduling above " + Path.of("").toAbsolutePath());
  }

  /** The root pom's version: the joule-spark jar's name carries it. */
  static String projectVersion() throws IOException {
    Matcher m = Pattern.compile("<artifactId>joule-parent</artifactId>\\s*<version>([^<]+)</version>")
        .matcher(Files.readString(repoRoot().resolve("pom.xml")));
    assertTrue(m.find(), "no version in the root pom");
    return m.group(1);
  }
}
