package dev.joule.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import jdk.jshell.EvalException;
import jdk.jshell.JShell;
import jdk.jshell.Snippet;
import jdk.jshell.SnippetEvent;
import jdk.jshell.SourceCodeAnalysis;
import jdk.jshell.UnresolvedReferenceException;

/**
 * Runs the code cells of a Jupyter notebook, in order, through {@code jdk.jshell} in this JVM
 * (the local execution engine, on this module's test classpath): what the Java kernel does with
 * them, minus the kernel. JShell reports failures as statuses and exceptions rather than throwing,
 * and takes one statement per {@code eval}, so each cell is split with the source analysis first.
 */
final class NotebookRunner {

  /** The first failure of a notebook, or null, and how many snippets ran. */
  record Result(String failure, int cells, int snippets) {}

  private NotebookRunner() {}

  /**
   * @param initScript run before the first cell, as the kernel runs its RJK_INIT_SCRIPT; null: none
   */
  static Result run(Path notebook, Path initScript) throws IOException {
    JsonNode root = new ObjectMapper().readTree(notebook.toFile());
    int cells = 0;
    int snippets;
    // The Java kernel sets java.util.logging's root level to FINEST (its logging.properties,
    // read after its init script); do the same, so a notebook that only works with quieter
    // logging fails here too.
    java.util.logging.Logger julRoot = java.util.logging.Logger.getLogger("");
    java.util.logging.Level julLevel = julRoot.getLevel();
    julRoot.setLevel(java.util.logging.Level.FINEST);
    try (JShell shell = JShell.builder().executionEngine("local").build()) {
      for (String entry : classpath()) {
        shell.addToClasspath(entry);
      }
      if (initScript != null) {
        String failure = evalAll(shell, Files.readString(initScript), new int[1]);
        if (failure != null) {
          return new Result(initScript.getFileName() + ": " + failure, 0, 0);
        }
      }
      // The kernel reads its logging configuration (root FINEST) after the init script; do that
      // too, through LogManager so that configuration listeners run as they do there.
      java.util.logging.LogManager.getLogManager().updateConfiguration(
          key -> (was, now) -> key.equals(".level") ? "FINEST" : was);
      int index = 0;
      int[] count = new int[1];
      for (JsonNode cell : root.path("cells")) {
        index++;
        if (!"code".equals(cell.path("cell_type").asText())) {
          continue;
        }
        cells++;
        String failure = evalAll(shell, withoutMagics(source(cell)), count);
        if (failure != null) {
          return new Result("cell " + index + ": " + failure, cells, count[0]);
        }
      }
      snippets = count[0];
    } finally {
      julRoot.setLevel(julLevel);
    }
    return new Result(null, cells, snippets);
  }

  /**
   * Evaluates every statement of {@code code} in turn ({@code eval} takes only the first one).
   *
   * @return the first failure, or null
   */
  private static String evalAll(JShell shell, String code, int[] count) {
    SourceCodeAnalysis analysis = shell.sourceCodeAnalysis();
    String remaining = code;
    while (!remaining.isBlank()) {
      SourceCodeAnalysis.CompletionInfo info = analysis.analyzeCompletion(remaining);
      if (info.completeness() == SourceCodeAnalysis.Completeness.EMPTY) {
        return null;
      }
      if (!info.completeness().isComplete()) {
        return "incomplete code: " + remaining.strip();
      }
      String failure = eval(shell, info.source());
      count[0]++;
      if (failure != null) {
        return failure;
      }
      remaining = info.remaining();
    }
    return null;
  }

  private static String eval(JShell shell, String code) {
    for (SnippetEvent e : shell.eval(code)) {
      // The snippet's own event must be VALID: RECOVERABLE_* means a declaration whose types do
      // not resolve, which "runs" without doing anything. Events caused by it (an earlier
      // variable overwritten) are not failures.
      if (e.causeSnippet() == null && e.status() != Snippet.Status.VALID) {
        String why = shell.diagnostics(e.snippet())
            .map(d -> d.getMessage(java.util.Locale.ROOT)).collect(Collectors.joining("; "));
        return e.status().toString().toLowerCase(java.util.Locale.ROOT) + ": " + why + "\n  in: " + code.strip();
      }
      if (e.exception() != null) {
        Throwable t = e.exception();
        String name = t instanceof EvalException ee ? ee.getExceptionClassName()
            : t instanceof UnresolvedReferenceException ? "unresolved reference" : t.getClass().getName();
        StringBuilder causes = new StringBuilder();
        for (Throwable c = t.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
          causes.append("\n  caused by: ").append(c instanceof EvalException ce ? ce.getExceptionClassName() : c.getClass().getName())
              .append(": ").append(c.getMessage());
        }
        return name + ": " + t.getMessage() + causes + "\n  in: " + code.strip();
      }
    }
    return null;
  }

  /** A cell's source is a string or a list of lines. */
  static String source(JsonNode cell) {
    JsonNode s = cell.path("source");
    if (s.isArray()) {
      StringBuilder b = new StringBuilder();
      s.forEach(line -> b.append(line.asText()));
      return b.toString();
    }
    return s.asText();
  }

  /** Kernel magics ({@code %jars ...}, {@code %%time}) are not Java. */
  static String withoutMagics(String source) {
    return source.lines().filter(l -> !l.stripLeading().startsWith("%")).collect(Collectors.joining("\n"));
  }

  /** Surefire may hide the classpath behind a manifest-only jar; it publishes the real one. */
  private static List<String> classpath() {
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    List<String> entries = new ArrayList<>();
    for (String e : cp.split(File.pathSeparator)) {
      if (!e.isBlank()) {
        entries.add(e);
      }
    }
    return entries;
  }
}
