package dev.joule.jobs.console;

import dev.joule.jobs.JouleException;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The console's progress for one command, one job: the phase it is in (starting Spark, planning,
 * scoring, quality gate, commit, ...), the rows done in that phase (of a total when known) and the
 * rate. Rows come from Spark's task metrics ({@link SparkRows}) as tasks report them, or from the
 * job itself ({@link #rows}).
 *
 * <ul>
 *   <li>{@code BAR} (stderr is a terminal, {@code joule.progress = auto}, or {@code on}): one line
 *       redrawn in place. While it is shown, {@code System.out} and {@code System.err} go through
 *       it line by line: the bar is cleared, the line printed, the bar drawn again, so log lines
 *       and printed results never tear it.
 *   <li>{@code LINES} (not a terminal: CI, a scheduler, a pipe): no bar; one log line per phase
 *       when it ends, with its rows, time and rate.
 *   <li>{@code OFF}: nothing.
 * </ul>
 * In both shown modes each finished phase leaves one line, e.g.
 * {@code scoring: 1,000,000 rows in 33.1 s (30,211 rows/s)}.
 *
 * <p>Jobs mark their phases with the static {@link #phase}, which does nothing when no progress
 * is running (tests, the SQL functions, notebooks).
 */
public final class ConsoleProgress implements AutoCloseable {

  /** How progress is shown. */
  public enum Mode { BAR, LINES, OFF }

  private static final Logger LOG = LoggerFactory.getLogger("dev.joule.progress");
  private static final AtomicReference<ConsoleProgress> CURRENT = new AtomicReference<>();
  private static final String CLEAR = "\r\033[K";
  private static final char[] SPIN = {'|', '/', '-', '\\'};

  private final String command;
  private final Mode mode;
  private final PrintStream out;
  private final PrintStream err;
  private final LongSupplier nanos;
  private final int width;
  /** Where a finished phase's line goes: the log (console and file). */
  private final java.util.function.Consumer<String> lines;
  private final long tickMillis;
  private final Object lock = new Object();

  // The phase, guarded by lock.
  private String phase;
  private int seq;
  private long phaseStart;
  private long total = -1;
  private long ownRows = -1;
  private Supplier<String> extra;
  private LongSupplier sparkRows = () -> 0;

  private boolean drawn;
  private int tick;
  private ScheduledExecutorService ticker;
  private PrintStream savedOut;
  private PrintStream savedErr;
  private Lines outLines;
  private Lines errLines;
  private SparkRows listener;
  private SparkSession spark;
  private boolean closed;

  ConsoleProgress(String command, Mode mode, PrintStream out, PrintStream err, LongSupplier nanos, int width,
      java.util.function.Consumer<String> lines, long tickMillis) {
    this.command = command;
    this.mode = mode;
    this.out = out;
    this.err = err;
    this.nanos = nanos;
    this.width = Math.max(20, width);
    this.lines = lines;
    this.tickMillis = tickMillis;
  }

  /**
   * Starts the progress of {@code command} (e.g. "score"), in its first phase, as
   * {@code joule.progress} says ({@code auto}, {@code on}, {@code off}). Inside another command's
   * progress (the demo runs several jobs) it returns one that does nothing.
   */
  public static ConsoleProgress start(String command, String setting, String firstPhase) {
    return start(new ConsoleProgress(command, mode(setting), System.out, System.err, System::nanoTime, columns(),
        LOG::info, 250), firstPhase);
  }

  /** Starts {@code p} as the running command's progress, unless one is running already. */
  static ConsoleProgress start(ConsoleProgress p, String firstPhase) {
    if (p.mode == Mode.OFF || !CURRENT.compareAndSet(null, p)) {
      return new ConsoleProgress(p.command, Mode.OFF, p.out, p.err, p.nanos, 80, p.lines, 0);
    }
    p.begin(firstPhase);
    return p;
  }

  /** The command of a Spark application name: "joule nightly 2026-12-01" is "nightly", "joule model import" "model import". */
  public static String command(String app) {
    String[] w = app.trim().split("\\s+");
    int i = w.length > 1 && w[0].equals("joule") ? 1 : 0;
    return w[i].equals("model") && w.length > i + 1 ? "model " + w[i + 1] : w[i];
  }

  /** The phase a command starts in once Spark is up, until its job says more. */
  public static String firstPhase(String command) {
    return switch (command) {
      case "import" -> "importing";
      case "train" -> "training";
      case "model import" -> "reading the model";
      default -> "planning";
    };
  }

  /** Whether {@link #firstPhase} counts rows: a command whose whole work is one such phase. */
  public static long firstPhaseRows(String command) {
    return command.equals("import") || command.equals("train") ? -1 : NO_ROWS;
  }

  /** {@code joule.progress}: a bar on a terminal (auto) or always (on), lines elsewhere, or nothing (off). */
  static Mode mode(String setting) {
    return switch (setting) {
      case "auto" -> terminal() ? Mode.BAR : Mode.LINES;
      case "on" -> Mode.BAR;
      case "off" -> Mode.OFF;
      default -> throw JouleException.usage("joule.progress must be auto, on or off, got '" + setting + "'");
    };
  }

  /** stderr is a terminal: bin/joule says so ({@code -Djoule.console.tty}); else Java's console check. */
  static boolean terminal() {
    String tty = System.getProperty("joule.console.tty");
    return tty != null ? Boolean.parseBoolean(tty) : System.console() != null;
  }

  static int columns() {
    String c = System.getProperty("joule.console.columns", System.getenv("COLUMNS"));
    try {
      int n = c == null || c.isBlank() ? 0 : Integer.parseInt(c.trim());
      return n >= 20 ? n : 80; // 0 from a terminal that does not know its size
    } catch (NumberFormatException e) {
      return 80;
    }
  }

  /** Counts the rows of {@code spark}'s tasks from now on, per phase. */
  public void attach(SparkSession session) {
    if (mode == Mode.OFF || session == null) {
      return;
    }
    synchronized (lock) {
      spark = session;
      listener = new SparkRows(() -> {
        synchronized (lock) {
          return seq;
        }
      });
      sparkRows = () -> listener.rows(currentSeq());
    }
    session.sparkContext().addSparkListener(listener);
  }

  private int currentSeq() {
    synchronized (lock) {
      return seq;
    }
  }

  /** A phase's total when its rows are not counted (planning, the quality gate, a commit). */
  public static final long NO_ROWS = -2;

  /** The running command enters a phase whose rows are not counted. */
  public static void phase(String name) {
    phase(name, NO_ROWS);
  }

  /** The running command enters a phase of {@code totalRows} rows (-1: counted, total unknown). */
  public static void phase(String name, long totalRows) {
    SparkJobProfile.step(name);
    ConsoleProgress p = CURRENT.get();
    if (p != null) {
      p.next(name, totalRows);
    }
  }

  /** Rows done in the current phase, for work that is not a Spark job (or counts better itself). */
  public static void rows(long done) {
    ConsoleProgress p = CURRENT.get();
    if (p != null) {
      synchronized (p.lock) {
        p.ownRows = done;
        p.total = p.total == NO_ROWS ? -1 : p.total;
      }
    }
  }

  /** A short text shown after the rate in the current phase (e.g. the energy so far). */
  public static void extra(Supplier<String> text) {
    ConsoleProgress p = CURRENT.get();
    if (p != null) {
      synchronized (p.lock) {
        p.extra = text;
      }
    }
  }

  private void begin(String firstPhase) {
    synchronized (lock) {
      startPhase(firstPhase, NO_ROWS);
    }
    if (mode == Mode.BAR) {
      savedOut = System.out;
      savedErr = System.err;
      outLines = new Lines(out);
      errLines = new Lines(err);
      System.setOut(new PrintStream(outLines, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(errLines, true, StandardCharsets.UTF_8));
      if (tickMillis > 0) {
        ticker = Executors.newSingleThreadScheduledExecutor(r -> {
          Thread t = new Thread(r, "joule-progress");
          t.setDaemon(true);
          return t;
        });
        ticker.scheduleAtFixedRate(this::redraw, 0, tickMillis, TimeUnit.MILLISECONDS);
      } else {
        redraw();
      }
    }
  }

  void next(String name, long totalRows) {
    String done;
    synchronized (lock) {
      if (closed || mode == Mode.OFF) {
        return;
      }
      done = summary();
      startPhase(name, totalRows);
    }
    lines.accept(done);
    redraw();
  }

  private void startPhase(String name, long totalRows) {
    phase = name;
    seq++;
    phaseStart = nanos.getAsLong();
    total = totalRows;
    ownRows = -1;
    extra = null;
  }

  /** The current phase's one line: its name, rows, time and rate. */
  String summary() {
    synchronized (lock) {
      return summary(phase, total == NO_ROWS ? 0 : rowsNow(), (nanos.getAsLong() - phaseStart) / 1e9);
    }
  }

  static String summary(String phase, long rows, double seconds) {
    if (rows <= 0) {
      return String.format(Locale.ROOT, "%s: %.1f s", phase, seconds);
    }
    return String.format(Locale.ROOT, "%s: %,d rows in %.1f s (%s rows/s)", phase, rows, seconds,
        rate(rows, seconds));
  }

  long rowsNow() {
    return ownRows >= 0 ? ownRows : sparkRows.getAsLong();
  }

  static String rate(long rows, double seconds) {
    return String.format(Locale.ROOT, "%,.0f", rows / Math.max(seconds, 1e-3));
  }

  /**
   * The bar: {@code score | scoring [=====>     ]  42% 420,000/1,000,000 rows, 30,211 rows/s, 12.3 J est. 0:14},
   * cut to {@code width - 1} characters so it never wraps.
   */
  static String bar(String command, String phase, long rows, long total, double seconds, String extra, int tick,
      int width) {
    StringBuilder b = new StringBuilder();
    b.append(command).append(" | ").append(phase).append(' ');
    if (total > 0) {
      int cells = 20;
      double f = Math.min(1, Math.max(0, rows / (double) total));
      int full = (int) Math.floor(f * cells);
      b.append('[').append("=".repeat(full)).append(full < cells ? ">" : "").append(" ".repeat(Math.max(0, cells - full - 1)))
          .append(']').append(String.format(Locale.ROOT, " %3d%% %,d/%,d rows", (int) Math.floor(f * 100), rows, total));
    } else {
      b.append(SPIN[Math.floorMod(tick, SPIN.length)]);
      if (rows > 0) {
        b.append(String.format(Locale.ROOT, " %,d rows", rows));
      }
    }
    if (rows > 0) {
      b.append(", ").append(rate(rows, seconds)).append(" rows/s");
    }
    if (extra != null && !extra.isEmpty()) {
      b.append(", ").append(extra);
    }
    long s = (long) seconds;
    b.append(String.format(Locale.ROOT, " %d:%02d", s / 60, s % 60));
    return b.length() < width ? b.toString() : b.substring(0, width - 1);
  }

  private String render() {
    String x = null;
    if (extra != null) {
      try {
        x = extra.get();
      } catch (RuntimeException e) {
        x = null;
      }
    }
    return bar(command, phase, total == NO_ROWS ? 0 : rowsNow(), total, (nanos.getAsLong() - phaseStart) / 1e9, x,
        tick++, width);
  }

  void redraw() {
    if (mode != Mode.BAR) {
      return;
    }
    synchronized (lock) {
      if (closed) {
        return;
      }
      draw();
    }
  }

  /** Draws the bar over the current line; the caller holds the lock. */
  private void draw() {
    err.print(CLEAR + render());
    err.flush();
    drawn = true;
  }

  /** Clears the bar's line; the caller holds the lock. */
  private void clear() {
    if (drawn) {
      err.print(CLEAR);
      err.flush();
      drawn = false;
    }
  }

  /** Ends the last phase with its line, restores the console and forgets the Spark listener. */
  @Override
  public void close() {
    finish(true);
  }

  /** Ends without a line for the phase that did not finish (the command failed in it). */
  public void abandon() {
    finish(false);
  }

  private void finish(boolean withSummary) {
    if (mode == Mode.OFF) {
      return;
    }
    String done;
    synchronized (lock) {
      if (closed) {
        return;
      }
      done = withSummary ? summary() : null;
    }
    if (done != null) {
      lines.accept(done);
    }
    synchronized (lock) {
      closed = true;
      if (ticker != null) {
        ticker.shutdownNow();
      }
      clear();
    }
    if (savedOut != null) {
      System.out.flush();
      System.err.flush();
      outLines.close();
      errLines.close();
      System.setOut(savedOut);
      System.setErr(savedErr);
    }
    if (spark != null) {
      spark.sparkContext().removeSparkListener(listener);
    }
    CURRENT.compareAndSet(this, null);
  }

  /**
   * A stream that passes whole lines to {@code target} with the bar cleared before and drawn
   * again after, so nothing printed while the bar is up tears it.
   */
  final class Lines extends OutputStream {
    private final PrintStream target;
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();

    Lines(PrintStream target) {
      this.target = target;
    }

    @Override
    public void write(int b) {
      synchronized (lock) {
        line.write(b);
        if (b == '\n') {
          emit();
        }
      }
    }

    @Override
    public void write(byte[] b, int off, int len) {
      synchronized (lock) {
        int start = off;
        for (int i = off; i < off + len; i++) {
          if (b[i] == '\n') {
            line.write(b, start, i + 1 - start);
            emit();
            start = i + 1;
          }
        }
        line.write(b, start, off + len - start);
      }
    }

    @Override
    public void flush() {
      // A partial line waits for its end (or close), so it cannot land in the middle of the bar.
    }

    @Override
    public void close() {
      synchronized (lock) {
        if (line.size() > 0) {
          emit();
        }
      }
    }

    private void emit() {
      boolean was = drawn && !closed;
      clear();
      target.write(line.toByteArray(), 0, line.size());
      target.flush();
      line.reset();
      if (was) {
        draw();
      }
    }
  }
}
