package dev.joule.jobs.console;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.JouleException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ConsoleProgressTest {

  static final long S = 1_000_000_000L;

  final AtomicLong clock = new AtomicLong();
  final List<String> lines = new ArrayList<>();
  final ByteArrayOutputStream outBytes = new ByteArrayOutputStream();
  final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();

  ConsoleProgress progress(ConsoleProgress.Mode mode) {
    return ConsoleProgress.start(new ConsoleProgress("score", mode, new PrintStream(outBytes, true, StandardCharsets.UTF_8),
        new PrintStream(errBytes, true, StandardCharsets.UTF_8), clock::get, 100, lines::add, 0), "starting Spark");
  }

  String err() {
    return errBytes.toString(StandardCharsets.UTF_8);
  }

  @Test
  void eachPhaseEndsInOneLineWithItsRowsTimeAndRate() {
    try (ConsoleProgress p = progress(ConsoleProgress.Mode.LINES)) {
      clock.addAndGet(2 * S);
      ConsoleProgress.phase("planning");
      clock.addAndGet(S / 2);
      ConsoleProgress.phase("scoring", 1_000_000);
      ConsoleProgress.rows(400_000);
      clock.addAndGet(4 * S);
      ConsoleProgress.rows(1_000_000);
      ConsoleProgress.phase("quality gate");
      clock.addAndGet(3 * S);
    }
    assertEquals(List.of("starting Spark: 2.0 s", "planning: 0.5 s", "scoring: 1,000,000 rows in 4.0 s (250,000 rows/s)",
        "quality gate: 3.0 s"), lines);
  }

  @Test
  void notOnATerminalNothingButThoseLines() {
    try (ConsoleProgress p = progress(ConsoleProgress.Mode.LINES)) {
      ConsoleProgress.phase("scoring", 1000);
      for (int i = 1; i <= 100; i++) {
        clock.addAndGet(S / 10);
        ConsoleProgress.rows(i * 10);
        p.redraw();
      }
    }
    assertEquals("", err(), "no bar, no carriage returns");
    assertEquals(2, lines.size(), lines.toString());
    assertEquals("scoring: 1,000 rows in 10.0 s (100 rows/s)", lines.get(1));
  }

  @Test
  void offSaysNothingAndPhasesOutsideACommandAreNoOps() {
    ConsoleProgress.phase("scoring", 10); // no command running: nothing to do, nothing thrown
    try (ConsoleProgress p = progress(ConsoleProgress.Mode.OFF)) {
      ConsoleProgress.phase("scoring", 10);
    }
    assertEquals(List.of(), lines);
    assertEquals("", err());
  }

  @Test
  void aFailedPhaseLeavesNoLine() {
    ConsoleProgress p = progress(ConsoleProgress.Mode.LINES);
    ConsoleProgress.phase("scoring", 10);
    p.abandon();
    p.close();
    assertEquals(List.of("starting Spark: 0.0 s"), lines);
  }

  @Test
  void theBarShowsPhaseRowsOfTotalRateAndTime() {
    assertEquals("score | scoring [==========>         ]  50% 500,000/1,000,000 rows, 50,000 rows/s, 1.2 J est. 0:10",
        ConsoleProgress.bar("score", "scoring", 500_000, 1_000_000, 10, "1.2 J est.", 0, 200));
    assertEquals("import | importing / 120,000 rows, 40,000 rows/s 0:03",
        ConsoleProgress.bar("import", "importing", 120_000, -1, 3, null, 1, 200));
    assertEquals("score | commit - 1:05", ConsoleProgress.bar("score", "commit", 0, -1, 65.4, null, 2, 200));
    assertEquals("score | scoring [====================] 100% 10/10 rows, 10 rows/s 0:01",
        ConsoleProgress.bar("score", "scoring", 10, 10, 1, null, 0, 200));
    String cut = ConsoleProgress.bar("score", "scoring", 500_000, 1_000_000, 10, "1.2 J est.", 0, 40);
    assertEquals(39, cut.length(), "never wider than the terminal: " + cut);
  }

  @Test
  void onATerminalLinesPrintedWhileTheBarIsUpDoNotTearIt() {
    PrintStream realOut = System.out;
    PrintStream realErr = System.err;
    try (ConsoleProgress p = progress(ConsoleProgress.Mode.BAR)) {
      ConsoleProgress.phase("scoring", 100);
      ConsoleProgress.rows(50);
      clock.addAndGet(S);
      p.redraw();
      System.err.print("12:00:00 INFO  Scoring: half");
      assertTrue(err().endsWith("50/100 rows, 50 rows/s 0:01"), "a partial line waits: " + err());
      System.err.println(" way");
      System.out.println("a result line");
    } finally {
      assertTrue(System.out == realOut && System.err == realErr, "the console's streams are given back");
    }
    String e = err();
    String bar = "score | scoring [==========>         ]  50% 50/100 rows, 50 rows/s 0:01";
    // Cleared, the log line whole, the bar again; the same around stdout's line; cleared at the end.
    assertTrue(e.contains("\r\033[K" + bar + "\r\033[K12:00:00 INFO  Scoring: half way\n\r\033[K" + bar
        + "\r\033[K\r\033[K" + bar + "\r\033[K"), e.replace("\033", "ESC").replace("\r", "CR"));
    assertEquals("a result line\n", outBytes.toString(StandardCharsets.UTF_8));
    assertTrue(e.endsWith("\r\033[K"), "the bar is gone when the command ends");
    assertEquals(List.of("starting Spark: 0.0 s", "scoring: 50 rows in 1.0 s (50 rows/s)"), lines);
  }

  @Test
  void modesAndCommands() {
    assertEquals(ConsoleProgress.Mode.OFF, ConsoleProgress.mode("off"));
    assertEquals(ConsoleProgress.Mode.BAR, ConsoleProgress.mode("on"));
    String saved = System.getProperty("joule.console.tty");
    try {
      System.setProperty("joule.console.tty", "false");
      assertEquals(ConsoleProgress.Mode.LINES, ConsoleProgress.mode("auto"));
      System.setProperty("joule.console.tty", "true");
      assertEquals(ConsoleProgress.Mode.BAR, ConsoleProgress.mode("auto"));
    } finally {
      if (saved == null) {
        System.clearProperty("joule.console.tty");
      } else {
        System.setProperty("joule.console.tty", saved);
      }
    }
    assertEquals(2, assertThrows(JouleException.class, () -> ConsoleProgress.mode("sometimes")).exitCode());
    assertEquals("nightly", ConsoleProgress.command("joule nightly 2026-12-01"));
    assertEquals("model import", ConsoleProgress.command("joule model import"));
    assertEquals("importing", ConsoleProgress.firstPhase("import"));
    assertEquals("planning", ConsoleProgress.firstPhase("score"));
  }
}
