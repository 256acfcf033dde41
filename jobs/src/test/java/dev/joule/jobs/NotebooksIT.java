package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Executes every notebook in notebooks/ on small generated data, so none of them rots: any
 * rejected snippet or exception fails the test with the cell number and the code.
 */
class NotebooksIT {

  static final Path NOTEBOOKS = Path.of(System.getProperty("joule.root", ".."), "notebooks");

  @TempDir static Path tmp;

  static Stream<Path> notebooks() throws IOException {
    try (Stream<Path> s = Files.list(NOTEBOOKS)) {
      return s.filter(p -> p.toString().endsWith(".ipynb")).sorted().toList().stream();
    }
  }

  @Test
  void theShippedNotebooksAreThere() throws IOException {
    List<String> names = notebooks().map(p -> p.getFileName().toString()).toList();
    assertTrue(names.containsAll(List.of("01-explore-embeddings.ipynb", "02-compare-precisions.ipynb",
        "03-energy-of-a-run.ipynb")), names.toString());
  }

  @ParameterizedTest
  @MethodSource("notebooks")
  void runsEveryCodeCell(Path notebook) throws IOException {
    String name = notebook.getFileName().toString().replace(".ipynb", "");
    Path work = tmp.resolve(name);
    System.setProperty("joule.notebook.dir", work.toString());
    System.setProperty("joule.notebook.rows", "3000");
    System.setProperty("joule.notebook.dim", "32");
    System.setProperty("spark.sql.warehouse.dir", tmp.resolve("warehouse").toString());
    NotebookRunner.Result r = NotebookRunner.run(notebook, NOTEBOOKS.resolve("kernel-init.jsh"));
    assertNull(r.failure(), notebook + " failed at " + r.failure());
    assertTrue(r.snippets() > r.cells(), "every code cell ran: " + r);
    // Every chart the notebook draws is written beside its data.
    long charts;
    try (Stream<Path> s = Files.list(work)) {
      charts = s.filter(p -> p.toString().endsWith(".png")).count();
    }
    assertEquals(1, charts, "one chart from " + name);
  }

  /** Each notebook builds its own session: stop the last one's so its session cell really runs. */
  @AfterEach
  void stopSpark() {
    SparkSession.clearActiveSession();
    if (SparkSession.getDefaultSession().isDefined()) {
      SparkSession.getDefaultSession().get().stop();
    }
    SparkSession.clearDefaultSession();
  }

  @AfterAll
  static void clearProperties() {
    for (String k : List.of("joule.notebook.dir", "joule.notebook.rows", "joule.notebook.dim",
        "spark.sql.warehouse.dir")) {
      System.clearProperty(k);
    }
  }
}
