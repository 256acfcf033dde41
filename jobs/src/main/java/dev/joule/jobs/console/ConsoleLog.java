package dev.joule.jobs.console;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.stream.Stream;

/**
 * Where the CLI's log goes: the console (stderr) gets Joule's own lines and one line per error;
 * everything else, stack traces included, goes to one log file per run (see
 * {@code conf/log4j2.properties}). {@code JOULE_DEBUG=1} prints it all on the console too.
 */
public final class ConsoleLog {

  /** System properties {@code conf/log4j2.properties} reads. */
  public static final String FILE = "joule.log.file";
  static final String OTHERS = "joule.log.others";
  static final String STACKS = "joule.log.stacks";
  /** Log files kept in the log folder. */
  static final int KEEP = 20;

  private ConsoleLog() {}

  /**
   * Sets up logging before anything logs: the configuration file (the one packaged in the jar
   * when none is given), the log file of this run and what the console shows. Never throws; a
   * log folder that cannot be written leaves the run without a file.
   */
  public static void setUp(String[] args) {
    if (System.getProperty("log4j2.configurationFile") == null) {
      URL cfg = ConsoleLog.class.getResource("/joule-conf/log4j2.properties");
      if (cfg != null) {
        System.setProperty("log4j2.configurationFile", cfg.toString());
      }
    }
    // An accelerator node is a server: its console is its log, as when it runs on its own.
    boolean node = args.length > 0 && args[0].equals("accel-node");
    boolean all = debug() || node;
    System.setProperty(OTHERS, System.getProperty(OTHERS, all ? "all" : "off"));
    System.setProperty(STACKS, System.getProperty(STACKS, String.valueOf(all)));
    if (System.getProperty(FILE) == null && !node) {
      try {
        String env = System.getenv("JOULE_LOG_DIR");
        Path dir = env != null && !env.isBlank() ? Paths.get(env)
            : Paths.get(System.getProperty("java.io.tmpdir"), "joule-" + System.getProperty("user.name", "user"));
        Files.createDirectories(dir);
        prune(dir, KEEP - 1);
        Path file = dir.resolve("joule-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))
            + "-" + ProcessHandle.current().pid() + ".log").toAbsolutePath();
        System.setProperty(FILE, file.toString());
      } catch (IOException | RuntimeException e) {
        // No file: the console still gets its one line per error.
      }
    }
  }

  /** Deletes all but the newest {@code keep} {@code joule-*.log} files of {@code dir}. */
  static void prune(Path dir, int keep) throws IOException {
    List<Path> logs;
    try (Stream<Path> s = Files.list(dir)) {
      logs = s.filter(p -> p.getFileName().toString().matches("joule-\\d{8}-\\d{6}-\\d+\\.log"))
          .sorted((a, b) -> b.getFileName().toString().compareTo(a.getFileName().toString())).toList();
    }
    for (Path p : logs.subList(Math.min(keep, logs.size()), logs.size())) {
      Files.deleteIfExists(p);
    }
  }

  /** {@code JOULE_DEBUG} is set (to anything but empty or 0). */
  public static boolean debug() {
    String d = System.getenv("JOULE_DEBUG");
    return d != null && !d.isBlank() && !d.equals("0");
  }

  /** This run's log file, or null when it has none. */
  public static Path file() {
    String f = System.getProperty(FILE);
    return f == null || f.equals("/dev/null") ? null : Paths.get(f);
  }

  /**
   * Writes a failed command's exception with its stack trace to the log file and prints where it
   * is (or, under {@code JOULE_DEBUG}, the stack trace itself) on {@code err}, in one line.
   */
  public static void failure(String[] args, Throwable ex, PrintWriter err, boolean hint) {
    Path file = file();
    if (file != null) {
      org.slf4j.LoggerFactory.getLogger("joule.cli").error("joule {} failed", String.join(" ", args), ex);
    }
    if (debug()) {
      ex.printStackTrace(err);
    } else if (hint) {
      err.println(file != null ? "joule: details and stack trace in " + file + " (JOULE_DEBUG=1 prints them here)"
          : "joule: set JOULE_DEBUG=1 for the stack trace");
    }
  }
}
