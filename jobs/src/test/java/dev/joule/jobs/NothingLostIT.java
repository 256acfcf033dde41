package dev.joule.jobs;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.delta.CommitUndo;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.delta.TableCommit;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.quantize.QuantizeJob;
import dev.joule.jobs.score.OutputTables;
import dev.joule.jobs.score.ScoreJob;
import dev.joule.jobs.score.ScoreResult;
import io.delta.tables.DeltaTable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 23: a failed or killed run never destroys what others wrote. Its rollback undoes only
 * its own commits, a crashed run's commits are undone by the next run on the output, and an
 * output path holding a user's files is refused before any work.
 */
class NothingLostIT {

  @TempDir static Path tmp;
  static SparkSession spark;
  static GenerateJob.Output gen;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    gen = new GenerateJob(spark).run(new GenerateJob.Request(1_000, 8, 3, tmp.resolve("gen").toString(), "array", 3, 0.3));
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  private static Dataset<Row> rows(String kind, int from, int n) {
    return spark.range(from, from + n).select(col("id"), lit(kind).as("k"));
  }

  private static Map<String, Long> byKind(String path) {
    Map<String, Long> m = new TreeMap<>();
    for (Row r : spark.read().format("delta").load(path).groupBy("k").count().collectAsList()) {
      m.put(r.getString(0), r.getLong(1));
    }
    return m;
  }

  private static Set<String> operations(String path) {
    return DeltaTable.forPath(spark, path).history().select("operation").collectAsList().stream()
        .map(r -> r.getString(0)).collect(Collectors.toSet());
  }

  @Test
  void aRollbackUndoesOnlyItsOwnCommitAndKeepsALaterWritersRows() {
    String t = tmp.resolve("shared-table").toString();
    rows("x", 0, 10).write().format("delta").save(t);
    TableCommit run = new TableCommit(spark, "run-a");
    run.replaceWhere(t, "k = 'x'", rows("x", 100, 3));
    rows("y", 200, 5).write().format("delta").mode("append").save(t); // another writer, after us
    run.rollback();
    assertEquals(Map.of("x", 10L, "y", 5L), byKind(t), "our replacement undone, the other writer's rows kept");
    assertEquals(10, spark.read().format("delta").load(t).filter("k = 'x' AND id < 10").count());
    assertFalse(operations(t).contains("RESTORE"), "never a RESTORE: " + operations(t));
  }

  @Test
  void aRollbackAfterALaterWriterReplacedTheRowsChangesNothing() {
    String t = tmp.resolve("replaced-table").toString();
    rows("x", 0, 10).write().format("delta").save(t);
    TableCommit run = new TableCommit(spark, "run-b");
    run.append(t, rows("x", 100, 3));
    rows("z", 0, 4).write().format("delta").mode("overwrite").save(t); // the later writer replaced everything
    long v = DeltaIO.latestVersion(spark, t);
    assertEquals(CommitUndo.Outcome.SUPERSEDED, CommitUndo.undo(spark, t, run.written().get(0).version(), "run-b"));
    run.rollback();
    assertEquals(Map.of("z", 4L), byKind(t));
    assertEquals(v, DeltaIO.latestVersion(spark, t), "no commit at all");
  }

  @Test
  void aTableTheRunCreatedIsRemovedOnlyWhileItHoldsNothingElse() {
    String alone = tmp.resolve("created-alone").toString();
    TableCommit a = new TableCommit(spark, "run-c");
    a.append(alone, rows("x", 0, 3));
    a.rollback();
    assertFalse(Files.exists(Path.of(alone)), "created by the run, nobody else wrote: removed");

    String shared = tmp.resolve("created-shared").toString();
    TableCommit b = new TableCommit(spark, "run-d");
    b.append(shared, rows("x", 0, 3));
    rows("y", 10, 2).write().format("delta").mode("append").save(shared);
    b.rollback();
    assertEquals(Map.of("y", 2L), byKind(shared), "another writer's rows stay, and so does the table");
  }

  @Test
  void outputPathsHoldingAUsersFilesAreRefusedBeforeAnyWorkAndLeftAlone() throws Exception {
    Path folder = Files.createDirectories(tmp.resolve("users-folder"));
    Files.writeString(folder.resolve("notes.csv"), "a,b\n1,2\n");
    JouleException q = assertThrows(JouleException.class, () -> new QuantizeJob(spark, TestSpark.config(tmp)).run(
        new QuantizeJob.Request(gen.embeddings(), Precision.INT8, folder.toString(), folder + "_rejects", null)));
    assertEquals(JouleException.INPUT, q.exitCode());
    assertTrue(q.getMessage().contains("not a Delta table"), q.getMessage());
    assertEquals("a,b\n1,2\n", Files.readString(folder.resolve("notes.csv")));

    Path file = Files.writeString(tmp.resolve("users-file.csv"), "id\n1\n");
    JouleException f = assertThrows(JouleException.class, () -> new QuantizeJob(spark, TestSpark.config(tmp)).run(
        new QuantizeJob.Request(gen.embeddings(), Precision.INT8, file.toString(), file + "_rejects", null)));
    assertTrue(f.getMessage().contains("is a file"), f.getMessage());
    assertEquals("id\n1\n", Files.readString(file));

    JouleException i = assertThrows(JouleException.class, () -> new dev.joule.jobs.imports.ImportJob(spark).run(
        new dev.joule.jobs.imports.ImportJob.Request("jsonl", file.toString(), "id", "embedding", folder.toString(),
            folder + "_rejects", "array", null)));
    assertEquals(JouleException.INPUT, i.exitCode());
    assertEquals("a,b\n1,2\n", Files.readString(folder.resolve("notes.csv")));

    Path out = Files.createDirectories(tmp.resolve("score-out-with-file"));
    Files.writeString(out.resolve("runs"), "mine");
    JouleException s = assertThrows(JouleException.class, () -> new ScoreJob(spark, TestSpark.config(tmp))
        .run(new ScoreJob.Request(gen.embeddings(), gen.model(), Precision.FP32, out.toString(), true)));
    assertEquals(JouleException.INPUT, s.exitCode());
    assertEquals("mine", Files.readString(out.resolve("runs")));
    assertFalse(Files.exists(out.resolve("predictions")), "refused before any work");
  }

  @Test
  void aQuantizeThatRejectsEveryRowExits3AndWritesNothing() {
    String out = tmp.resolve("codes-wrong-dim").toString();
    JouleException e = assertThrows(JouleException.class, () -> new QuantizeJob(spark, TestSpark.config(tmp)).run(
        new QuantizeJob.Request(gen.embeddings(), Precision.INT8, out, out + "_rejects", 17)));
    assertEquals(JouleException.INPUT, e.exitCode());
    assertTrue(e.getMessage().contains("all 1,000 rows rejected") && e.getMessage().contains("wrong_dim"), e.getMessage());
    assertFalse(Files.exists(Path.of(out)));
    assertFalse(Files.exists(Path.of(out + "_rejects")));
  }

  /** kill -9 right after each commit step; the next run undoes what the killed one left. */
  @Test
  void aRunKilledAtEachCommitStepLeavesTotalsThatAgreeAfterTheNextRun() throws Exception {
    String out = tmp.resolve("killed-out").toString();
    ScoreResult first = new ScoreJob(spark, TestSpark.config(tmp))
        .run(new ScoreJob.Request(gen.embeddings(), gen.model(), Precision.INT8, out, true));
    for (String step : List.of("predictions", "rejects", "energy_log")) {
      ConsoleErrorsIT.Run killed = ConsoleErrorsIT.joule(tmp.resolve("kill-" + step), Map.of(), "score",
          "--input", gen.embeddings(), "--model", gen.model().toString(), "--precision", "int8", "--out", out,
          "--set", "testing.halt-after-table=" + step);
      assertEquals(137, killed.code(), String.join("\n", killed.err()));
    }
    OutputTables tables = new OutputTables(out);
    assertTrue(spark.read().format("delta").load(tables.energyLog()).select("run_id").distinct().count() > 1,
        "the killed runs left energy rows behind");
    ScoreResult rerun = new ScoreJob(spark, TestSpark.config(tmp, "recovery.grace=0s"))
        .run(new ScoreJob.Request(gen.embeddings(), gen.model(), Precision.INT8, out, true));

    Map<String, Long> runsRows = new TreeMap<>();
    for (Row r : spark.read().format("delta").load(tables.runs()).select("run_id", "rows_in").collectAsList()) {
      runsRows.put(r.getString(0), r.getLong(1));
    }
    Map<String, Long> energyRows = new TreeMap<>();
    for (Row r : spark.read().format("delta").load(tables.energyLog()).groupBy("run_id")
        .agg(org.apache.spark.sql.functions.sum("rows_in")).collectAsList()) {
      energyRows.put(r.getString(0), r.getLong(1));
    }
    assertEquals(Map.of(first.runId(), 1_000L, rerun.runId(), 1_000L), runsRows);
    assertEquals(runsRows, energyRows, "energy_log's totals are the runs table's");
    assertEquals(Set.of(rerun.runId()), spark.read().format("delta").load(tables.predictions())
        .select("run_id").distinct().collectAsList().stream().map(r -> r.getString(0)).collect(Collectors.toSet()));
    assertEquals(1_000, spark.read().format("delta").load(tables.predictions()).count());
    assertFalse(operations(tables.predictions()).contains("RESTORE"));
  }

  @Test
  void recoveryLeavesACommitYoungerThanTheGraceAlone() {
    String out = tmp.resolve("young-out").toString();
    OutputTables tables = new OutputTables(out);
    TableCommit inFlight = new TableCommit(spark, "still-committing");
    inFlight.append(tables.energyLog(), rows("x", 0, 3));
    assertTrue(tables.recover(spark, java.time.Duration.ofHours(1)).isEmpty());
    assertEquals(3, spark.read().format("delta").load(tables.energyLog()).count());
    assertEquals(1, tables.recover(spark, java.time.Duration.ZERO).size());
  }
}
