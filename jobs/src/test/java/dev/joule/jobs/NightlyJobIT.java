package dev.joule.jobs;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.expr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.nightly.NightlyJob;
import dev.joule.jobs.score.OutputTables;
import io.delta.tables.DeltaTable;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** joule nightly on real local Spark and Delta tables with the change data feed on. */
class NightlyJobIT {

  static final int ROWS = 2000;
  static final LocalDate DAY1 = LocalDate.parse("2026-11-01");
  static final LocalDate DAY2 = DAY1.plusDays(1);
  static final AtomicInteger SEQ = new AtomicInteger();

  @TempDir static Path tmp;
  static SparkSession spark;
  static String generated;
  static Path model;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    GenerateJob.Output gen = new GenerateJob(spark).run(
        new GenerateJob.Request(ROWS + 200, 16, 3, tmp.resolve("gen").toString(), "array", 5, 0.3));
    generated = gen.embeddings();
    model = gen.model();
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  /** A fresh source (ids 0..ROWS-1) with the change data feed on, and its own output folder. */
  record Setup(String source, OutputTables out) {}

  static Setup fresh() {
    return fresh(true);
  }

  static Setup fresh(boolean changeDataFeed) {
    int n = SEQ.incrementAndGet();
    String source = tmp.resolve("source-" + n).toString();
    spark.read().format("delta").load(generated).filter(col("id").lt(ROWS)).select("id", "embedding")
        .write().format("delta").option("delta.enableChangeDataFeed", String.valueOf(changeDataFeed)).save(source);
    return new Setup(source, new OutputTables(tmp.resolve("night-out-" + n).toString()));
  }

  static NightlyJob.Result night(Setup s, LocalDate d, boolean full, String... sets) {
    List<String> all = new ArrayList<>(List.of("nightly.source=" + s.source(), "nightly.model=" + model,
        "nightly.output=" + s.out().root()));
    all.addAll(List.of(sets));
    return new NightlyJob(spark, TestSpark.config(tmp, all.toArray(String[]::new)))
        .run(new NightlyJob.Request(d, full, false));
  }

  /** Day-2 churn: 1 % inserted, 0.5 % updated, 0.1 % deleted. */
  static void churn(String source) {
    spark.read().format("delta").load(generated).filter(col("id").geq(ROWS).and(col("id").lt(ROWS + 20)))
        .select("id", "embedding").write().format("delta").mode("append").save(source);
    DeltaTable t = DeltaTable.forPath(spark, source);
    // Updates and deletes touch rows that existed before this day only.
    t.update(expr("id % 200 = 7 AND id < " + ROWS), java.util.Map.of("embedding", expr("transform(embedding, x -> -x)")));
    t.delete(expr("id % 1000 = 3 AND id < " + ROWS));
  }

  /** VACUUM with no retention: every file no current version needs is deleted now. */
  static void vacuumNow(String table) {
    spark.conf().set("spark.databricks.delta.retentionDurationCheck.enabled", "false");
    try {
      DeltaTable.forPath(spark, table).vacuum(0);
    } finally {
      spark.conf().set("spark.databricks.delta.retentionDurationCheck.enabled", "true");
    }
  }

  static long count(String table) {
    return spark.read().format("delta").load(table).count();
  }

  @Test
  void aLocalSessionRebuildsDeltaStateInOneTaskPerThread() {
    // Delta's default (50 tasks a snapshot) was most of a small night's CPU (bench/README.md).
    assertEquals("2", spark.conf().get("spark.databricks.delta.snapshotPartitions"));
  }

  @Test
  void incrementalNightScoresExactlyTheChangesAndEqualsAFullRecompute() {
    Setup s = fresh();
    NightlyJob.Result d1 = night(s, DAY1, false);
    assertEquals("full", d1.scanMode());
    assertTrue(d1.fullScanReason().startsWith("first committed night"), d1.fullScanReason());
    assertEquals(ROWS, count(s.out().predictions()));

    churn(s.source());
    NightlyJob.Result d2 = night(s, DAY2, false);
    assertEquals("cdf", d2.scanMode());
    assertNull(d2.fullScanReason());
    assertEquals(20 + 10, d2.rowsIn(), "20 inserted + 10 updated rows rescored");
    assertEquals(2, d2.deleted(), "ids 3 and 1003 deleted");
    long energyRowsIn = spark.read().format("delta").load(s.out().energyLog())
        .filter(col("run_key").equalTo(d2.runKey())).agg(org.apache.spark.sql.functions.sum("rows_in")).head().getLong(0);
    assertEquals(30, energyRowsIn);
    Row run = spark.read().format("delta").load(s.out().runs()).filter(col("run_key").equalTo(d2.runKey())).head();
    assertEquals(30L, (long) run.getAs("rows_in"));
    assertEquals(2L, (long) run.getAs("rows_deleted"));
    assertEquals("cdf", run.getAs("scan_mode"));
    assertEquals(ROWS + 20 - 2, count(s.out().predictions()));

    // The same source scored from scratch gives the same predictions.
    Setup full = new Setup(s.source(), new OutputTables(tmp.resolve("night-full-recompute").toString()));
    night(full, DAY2, true);
    Dataset<Row> a = spark.read().format("delta").load(s.out().predictions()).select("id", "label", "score", "scores");
    Dataset<Row> b = spark.read().format("delta").load(full.out().predictions()).select("id", "label", "score", "scores");
    assertEquals(0, a.exceptAll(b).count());
    assertEquals(0, b.exceptAll(a).count());
  }

  /**
   * A night replaces rows without a MERGE: its rows are new files, the rows they replace and the
   * deleted ids' rows are marked in deletion vectors, in one commit that rewrites no data file.
   * The rows are found in the files' key indexes, or, without them, by reading the files' ids on
   * the driver or, past its limit, by a Spark job. The answer is the MERGE's (a predictions table
   * without deletion vectors takes the MERGE).
   */
  @org.junit.jupiter.params.ParameterizedTest(name = "rows found by {0}")
  @org.junit.jupiter.params.provider.ValueSource(strings = {"index", "driver", "spark"})
  void aNightMarksTheRowsItReplacesInDeletionVectorsAndAgreesWithAMerge(String finder) throws Exception {
    Setup s = fresh();
    Setup merged = new Setup(s.source(), new OutputTables(tmp.resolve("night-merge-" + SEQ.incrementAndGet()).toString()));
    night(s, DAY1, false);
    night(merged, DAY1, false, "nightly.deletion-vectors=false");
    Path indexes = Path.of(s.out().predictions(), dev.joule.udfs.files.KeyIndex.DIR);
    java.util.Set<String> night1 = liveFiles(s.out().predictions());
    assertEquals(night1.stream().map(f -> f + ".keys").collect(Collectors.toSet()), indexNames(indexes),
        "each file of a night with its key index");
    if (!finder.equals("index")) {
      deleteTree(indexes); // a table whose files have none: their ids are read
    }
    churn(s.source());
    long before = DeltaIO.latestVersion(spark, s.out().predictions());
    var profile = dev.joule.jobs.console.SparkJobProfile.attach(spark);
    // With a driver limit of 0 rows, only the key indexes keep a Spark job away.
    NightlyJob.Result d2 = night(s, DAY2, false, "nightly.driver-key-scan-rows=" + (finder.equals("driver") ? "20000000" : "0"));
    List<String> jobs = profile.stop(spark).stream().map(dev.joule.jobs.console.SparkJobProfile.Job::what).toList();
    assertEquals(finder.equals("spark") ? 1 : 0, jobs.stream().filter(j -> j.contains("rows to replace")).count(),
        "the files holding a changed id read by a Spark job only past the driver's limit: " + jobs);
    assertEquals(finder.equals("spark") ? 1 : 0, jobs.stream().filter(j -> j.startsWith("commit predictions:"))
        .count(), "the commit's files listed on the driver (Delta's own list runs two jobs): " + jobs);
    night(merged, DAY2, false, "nightly.deletion-vectors=false");
    assertEquals(2, d2.deleted());
    // The night's own files come with their indexes; a file whose ids the driver read gets one
    // then (a Spark job's read leaves none).
    java.util.Set<String> live = liveFiles(s.out().predictions());
    assertTrue(live.containsAll(night1), "night 1's files stay, under deletion vectors");
    assertEquals(live.stream().filter(f -> !finder.equals("spark") || !night1.contains(f)).map(f -> f + ".keys")
        .collect(Collectors.toSet()), indexNames(indexes), finder);

    Dataset<Row> a = spark.read().format("delta").load(s.out().predictions())
        .select("id", "model_id", "model_version", "kernel", "label", "score", "scores");
    Dataset<Row> b = spark.read().format("delta").load(merged.out().predictions())
        .select("id", "model_id", "model_version", "kernel", "label", "score", "scores");
    assertEquals(ROWS + 20 - 2, a.count());
    assertEquals(a.count(), a.select("id").distinct().count(), "one row per id");
    assertEquals(0, a.exceptAll(b).count(), "the same rows as the MERGE");
    assertEquals(0, b.exceptAll(a).count(), "the same rows as the MERGE");
    assertEquals(d2.runId(), spark.read().format("delta").load(s.out().predictions())
        .filter(col("id").equalTo(1807)).head().getAs("run_id"), "an updated id has this night's row");

    // The night's commit to predictions: its own files, and deletion vectors on earlier files.
    assertEquals(before + 1, DeltaIO.latestVersion(spark, s.out().predictions()), "one commit");
    assertEquals("WRITE", DeltaTable.forPath(spark, s.out().predictions()).history(1).head().getAs("operation"),
        "no MERGE");
    assertEquals("MERGE", DeltaTable.forPath(spark, merged.out().predictions()).history(1).head().getAs("operation"),
        "a predictions table without deletion vectors takes the MERGE");
    var log = org.apache.spark.sql.delta.DeltaLog.forTable(spark, s.out().predictions());
    var changes = log.getChanges(before + 1, before + 1, scala.Option.empty(), true).next()._2();
    long newRows = 0;
    java.util.Set<String> addedWithDv = new java.util.HashSet<>();
    java.util.Set<String> removedPaths = new java.util.HashSet<>();
    for (var action : scala.jdk.javaapi.CollectionConverters.asJava(changes)) {
      if (action instanceof org.apache.spark.sql.delta.actions.AddFile f) {
        if (f.deletionVector() != null) {
          addedWithDv.add(f.path());
        } else {
          newRows += (Long) f.numLogicalRecords().get();
        }
      } else if (action instanceof org.apache.spark.sql.delta.actions.RemoveFile f) {
        removedPaths.add(f.path());
      }
    }
    assertEquals(d2.scored(), newRows, "the night's rows, each written once");
    assertFalse(addedWithDv.isEmpty(), "earlier rows are marked, not rewritten");
    assertTrue(removedPaths.containsAll(addedWithDv) && addedWithDv.containsAll(removedPaths),
        "every file the commit removes comes back with a deletion vector: no data file is rewritten");
  }

  /**
   * Key indexes follow their data files: VACUUM leaves those of live files alone, and a night's
   * end removes the ones whose data file is gone (here one whose file was never committed),
   * keeping the rest: after a night, exactly the live files have one.
   */
  @Test
  void keyIndexesFollowTheirDataFiles() throws Exception {
    Setup s = fresh();
    night(s, DAY1, false);
    Path indexes = Path.of(s.out().predictions(), dev.joule.udfs.files.KeyIndex.DIR);
    java.util.Set<String> first = indexNames(indexes);
    assertFalse(first.isEmpty());
    vacuumNow(s.out().predictions());
    assertEquals(first, indexNames(indexes), "VACUUM leaves the key indexes alone");
    java.nio.file.Files.write(indexes.resolve("part-00000-never-committed.c000.snappy.parquet.keys"), new byte[] {1});
    churn(s.source());
    night(s, DAY2, false);
    assertEquals(liveFiles(s.out().predictions()).stream().map(f -> f + ".keys").collect(Collectors.toSet()),
        indexNames(indexes), "the live files' indexes, and no other");
  }

  /** The names of the live data files of a Delta table. */
  static java.util.Set<String> liveFiles(String table) {
    return spark.read().format("delta").load(table).select(col("_metadata.file_name")).distinct().collectAsList()
        .stream().map(r -> r.getString(0)).collect(Collectors.toSet());
  }

  /** The files in a folder, checksum files aside (none: an empty set). */
  static java.util.Set<String> indexNames(Path dir) throws java.io.IOException {
    if (!java.nio.file.Files.isDirectory(dir)) {
      return java.util.Set.of();
    }
    try (var files = java.nio.file.Files.list(dir)) {
      return files.map(f -> f.getFileName().toString()).filter(n -> !n.endsWith(".crc")).collect(Collectors.toSet());
    }
  }

  static void deleteTree(Path dir) throws java.io.IOException {
    if (java.nio.file.Files.exists(dir)) {
      try (var walk = java.nio.file.Files.walk(dir)) {
        walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  /**
   * Each predictions file records the range of its ids in its statistics, and a night reads, for
   * the rows it replaces, only the files whose range holds one of its ids: a night that only
   * inserts new ids reads none of the table's files.
   */
  @Test
  void aNightReadsOnlyTheFilesWhoseIdRangeHoldsAChangedId() throws Exception {
    Setup s = fresh();
    night(s, DAY1, false);
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    Map<String, String> statsRange = new java.util.HashMap<>();
    for (var f : org.apache.spark.sql.delta.DeltaLog.forTable(spark, s.out().predictions()).update(false,
        scala.Option.empty(), scala.Option.empty()).allFiles().collectAsList()) {
      var st = json.readTree(f.stats());
      statsRange.put(f.path(), st.path("minValues").path("id").asLong() + ".." + st.path("maxValues").path("id").asLong()
          + " nulls " + st.path("nullCount").path("id").asLong());
    }
    Map<String, String> actual = new java.util.HashMap<>();
    spark.read().format("delta").load(s.out().predictions()).groupBy(col("_metadata.file_name"))
        .agg(org.apache.spark.sql.functions.min("id"), org.apache.spark.sql.functions.max("id")).collectAsList()
        .forEach(r -> actual.put(r.getString(0), r.getLong(1) + ".." + r.getLong(2) + " nulls 0"));
    assertEquals(actual, statsRange, "each file's id range, as its statistics say");

    spark.read().format("delta").load(generated).filter(col("id").between(ROWS + 100, ROWS + 109))
        .select("id", "embedding").write().format("delta").mode("append").save(s.source());
    var profile = dev.joule.jobs.console.SparkJobProfile.attach(spark);
    NightlyJob.Result inserts = night(s, DAY2, false);
    List<String> jobs = profile.stop(spark).stream().map(dev.joule.jobs.console.SparkJobProfile.Job::what).toList();
    assertEquals(10, inserts.scored());
    assertTrue(jobs.stream().noneMatch(j -> j.contains("rows to replace")), "no file read for rows to replace: " + jobs);

    DeltaTable.forPath(spark, s.source()).update(expr("id = 5"),
        java.util.Map.of("embedding", expr("transform(embedding, x -> -x)")));
    long holding5 = statsRange.values().stream().map(r -> r.split(" ")[0].split("\\.\\."))
        .filter(r -> Long.parseLong(r[0]) <= 5 && Long.parseLong(r[1]) >= 5).count();
    assertTrue(holding5 >= 1, statsRange.toString());
    profile = dev.joule.jobs.console.SparkJobProfile.attach(spark);
    // Read by a Spark job, whose description names the files it reads (without key indexes, which
    // would serve them on the driver).
    deleteTree(Path.of(s.out().predictions(), dev.joule.udfs.files.KeyIndex.DIR));
    NightlyJob.Result update = night(s, DAY2.plusDays(1), false, "nightly.driver-key-scan-rows=0");
    jobs = profile.stop(spark).stream().map(dev.joule.jobs.console.SparkJobProfile.Job::what).toList();
    assertEquals(1, update.scored());
    assertEquals(1, jobs.stream().filter(j -> j.contains("rows to replace: the id column of " + holding5 + " file(s)"))
        .count(), "the files whose range holds id 5 (not the inserted night's): " + jobs);
    Dataset<Row> p = spark.read().format("delta").load(s.out().predictions());
    assertEquals(ROWS + 10, p.count());
    assertEquals(p.count(), p.select("id").distinct().count(), "one row per id");
    assertEquals(update.runId(), p.filter(col("id").equalTo(5)).head().getAs("run_id"));
  }

  /**
   * Predictions files without row counts in their statistics (here rewritten by another writer
   * with statistics off) cannot take a deletion vector (Delta refuses one): the night merges
   * instead, and the answer is the same.
   */
  @Test
  void predictionsFilesWithoutRowCountsAreMerged() {
    Setup s = fresh();
    night(s, DAY1, false);
    spark.conf().set("spark.databricks.delta.stats.collect", "false");
    try {
      spark.read().format("delta").load(s.out().predictions()).write().format("delta").mode("overwrite")
          .save(s.out().predictions());
    } finally {
      spark.conf().unset("spark.databricks.delta.stats.collect");
    }
    churn(s.source());
    NightlyJob.Result d2 = night(s, DAY2, false);
    assertEquals("committed", d2.status());
    assertEquals("MERGE", DeltaTable.forPath(spark, s.out().predictions()).history(1).head().getAs("operation"));
    Dataset<Row> p = spark.read().format("delta").load(s.out().predictions());
    assertEquals(ROWS + 20 - 2, p.count());
    assertEquals(p.count(), p.select("id").distinct().count(), "one row per id");
    assertEquals(d2.scored(), p.filter(col("run_id").equalTo(d2.runId())).count());
  }

  @Test
  void topkNightsRescoreTheChangesAgainstAReferenceTable() {
    Setup s = fresh();
    String reference = tmp.resolve("reference-" + SEQ.incrementAndGet()).toString();
    spark.read().format("delta").load(generated).filter("id % 10 = 0 AND id < 1000").select("id", "embedding")
        .write().format("delta").save(reference);
    String[] topk = {"nightly.model=\"\"", "nightly.reference=" + reference, "topk.k=5"};
    NightlyJob.Result d1 = night(s, DAY1, false, topk);
    assertEquals("full", d1.scanMode());
    assertTrue(d1.score().kernel().startsWith("topk5-cosine@int8"), d1.score().kernel());
    assertEquals("passed", d1.score().gate().status(), d1.score().gate().describe());

    churn(s.source());
    NightlyJob.Result d2 = night(s, DAY2, false, topk);
    assertEquals("cdf", d2.scanMode());
    assertEquals(30, d2.rowsIn(), "the 30 changed rows, not the whole source, are searched again");
    assertEquals(ROWS + 20 - 2, count(s.out().predictions()));

    Setup full = new Setup(s.source(), new OutputTables(tmp.resolve("night-topk-full").toString()));
    night(full, DAY2, true, topk);
    Dataset<Row> a = spark.read().format("delta").load(s.out().predictions()).select("id", "label", "neighbors");
    Dataset<Row> b = spark.read().format("delta").load(full.out().predictions()).select("id", "label", "neighbors");
    assertEquals(0, a.exceptAll(b).count() + b.exceptAll(a).count(), "incremental neighbours = a full recompute");

    JouleException both = assertThrows(JouleException.class,
        () -> night(fresh(), DAY1, false, "nightly.reference=" + reference));
    assertEquals(JouleException.USAGE, both.exitCode());
    assertTrue(both.getMessage().contains("exactly one of joule.nightly.model"), both.getMessage());
  }

  @Test
  void withoutAChangeDataFeedTheHistoryGivesTheSameIncrement() {
    Setup s = fresh(false);
    night(s, DAY1, false);
    churn(s.source());
    NightlyJob.Result d2 = night(s, DAY2, false);
    assertEquals("history", d2.scanMode(), String.valueOf(d2.fullScanReason()));
    assertEquals(30, d2.rowsIn(), "rows rewritten unchanged by UPDATE/DELETE are not rescored");
    assertEquals(2, d2.deleted());
    assertEquals(ROWS + 20 - 2, count(s.out().predictions()));
    assertEquals(0, spark.read().format("delta").load(s.out().predictions()).filter("id IN (3, 1003)").count());
  }

  /**
   * The history path (no change feed) reads the log's add and remove actions; where those cannot
   * describe the rows, the night falls back to a full scan and says why: deletion vectors, data
   * files a VACUUM removed, or commits cleaned out of the log.
   */
  @Test
  void withoutAChangeDataFeedDeletionVectorsAndVacuumedFilesFallBackToAFullScan() {
    Setup dv = fresh(false);
    spark.sql("ALTER TABLE delta.`" + dv.source() + "` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')");
    night(dv, DAY1, false);
    DeltaTable.forPath(spark, dv.source()).delete(expr("id % 1000 = 3"));
    NightlyJob.Result withDv = night(dv, DAY2, false);
    assertEquals("full", withDv.scanMode());
    assertTrue(withDv.fullScanReason().contains("deletion vectors"), withDv.fullScanReason());
    assertEquals(ROWS - 2, count(dv.out().predictions()), "the deletes are found by the full scan");

    Setup gone = fresh(false);
    night(gone, DAY1, false);
    churn(gone.source());
    vacuumNow(gone.source());
    NightlyJob.Result vacuumed = night(gone, DAY2, false);
    assertEquals("full", vacuumed.scanMode());
    assertTrue(vacuumed.fullScanReason().contains("is gone (vacuumed)"), vacuumed.fullScanReason());
    assertEquals(ROWS + 20 - 2, count(gone.out().predictions()));

    // The log's first commit after the last night cleaned up (a checkpoint still holds the table).
    Setup cleaned = fresh(false);
    spark.sql("ALTER TABLE delta.`" + cleaned.source() + "` SET TBLPROPERTIES ('delta.checkpointInterval' = '2')");
    night(cleaned, DAY1, false);
    long read = DeltaIO.latestVersion(spark, cleaned.source());
    churn(cleaned.source());
    try {
      java.nio.file.Files.delete(Path.of(cleaned.source(), "_delta_log", String.format("%020d.json", read + 1)));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    NightlyJob.Result noLog = night(cleaned, DAY2, false);
    assertEquals("full", noLog.scanMode());
    assertTrue(noLog.fullScanReason().contains("no longer in _delta_log"), noLog.fullScanReason());
    assertEquals(ROWS + 20 - 2, count(cleaned.out().predictions()));
  }

  @Test
  void aNewModelVersionRescoresEverythingOnce() throws Exception {
    Setup s = fresh();
    night(s, DAY1, false);
    dev.joule.bridge.model.LinearModelFile t = dev.joule.bridge.model.LinearModelFile.read(model);
    float[] bias = t.bias().clone();
    bias[0] += 0.5f;
    Path v2 = tmp.resolve("model-v2-" + SEQ.incrementAndGet() + ".json");
    new dev.joule.bridge.model.LinearModelFile(t.modelId(), dev.joule.bridge.model.LinearModelFile.parameterHash(
        t.weights(), bias, t.labels()), t.activation(), t.labels(), t.weights(), bias).write(v2);
    NightlyJob.Result d2 = night(s, DAY2, false, "nightly.model=" + v2);
    assertEquals("full", d2.scanMode());
    assertTrue(d2.fullScanReason().startsWith("new model version"), d2.fullScanReason());
    assertEquals(ROWS, d2.rowsIn());
    NightlyJob.Result d3 = night(s, DAY2.plusDays(1), false, "nightly.model=" + v2);
    assertEquals("none", d3.scanMode());
    assertEquals(0, d3.rowsIn());
    assertEquals(ROWS, spark.read().format("delta").load(s.out().predictions())
        .filter(col("model_version").equalTo(d2.score().modelVersion())).count());
  }

  @Test
  void rerunningACommittedNightIsANoOpAndFullRecomputes() {
    Setup s = fresh();
    night(s, DAY1, false);
    long v = DeltaIO.latestVersion(spark, s.out().predictions());
    NightlyJob.Result again = night(s, DAY1, false);
    assertEquals("already_committed", again.status());
    assertEquals(v, DeltaIO.latestVersion(spark, s.out().predictions()), "no new commit on predictions");
    assertEquals(1, count(s.out().runs()));

    NightlyJob.Result full = night(s, DAY1, true);
    assertEquals("committed", full.status());
    assertEquals("--full", full.fullScanReason());
    assertEquals(1, spark.read().format("delta").load(s.out().runs()).filter(col("status").equalTo("committed")).count(),
        "--full replaces the night's runs row");
    assertEquals(ROWS, count(s.out().predictions()));
  }

  @Test
  void aNightKilledWhileScoringLeavesTheTablesAsTheyWereAndItsRerunCompletes() {
    Setup s = fresh();
    night(s, DAY1, false);
    churn(s.source());
    List<Long> before = versions(s.out());
    assertThrows(Exception.class, () -> night(s, DAY2, false, "testing.fail-partition=0"));
    assertEquals(before, versions(s.out()));
    NightlyJob.Result rerun = night(s, DAY2, false);
    assertEquals("committed", rerun.status());
    assertEquals(30, rerun.rowsIn());
    assertEquals(ROWS + 20 - 2, count(s.out().predictions()));
  }

  @Test
  void twoRunsOfTheSameNightAtOnceCommitOnce() throws Exception {
    Setup s = fresh();
    night(s, DAY1, false);
    churn(s.source());
    // A scores, then waits before committing; B runs the same night meanwhile and commits first.
    CompletableFuture<NightlyJob.Result> a = CompletableFuture.supplyAsync(
        () -> night(s, DAY2, false, "testing.pause-before-commit-ms=30000"));
    Thread.sleep(2000);
    NightlyJob.Result b = night(s, DAY2, false);
    assertEquals("committed", b.status());
    Exception e = assertThrows(Exception.class, a::join);
    JouleException je = (JouleException) (e.getCause() instanceof JouleException ? e.getCause() : e);
    assertEquals(JouleException.CONFLICT, je.exitCode(), je.getMessage());
    assertEquals(1, spark.read().format("delta").load(s.out().runs())
        .filter(col("run_key").equalTo(b.runKey())).count());
    assertEquals(ROWS + 20 - 2, count(s.out().predictions()));
    assertEquals(30, spark.read().format("delta").load(s.out().energyLog())
        .filter(col("run_key").equalTo(b.runKey())).agg(org.apache.spark.sql.functions.sum("rows_in")).head().getLong(0),
        "the loser's rollback restored the winner's energy rows");
  }

  /**
   * Two runs of one night that both pass the last runs-table check: A waits after it while B
   * commits the whole night; A then writes, finds B's runs row, and undoes its own commits.
   */
  @Test
  void twoRunsOverlappingAtCommitLeaveTheWinnersNightWholeOnAnExistingOutput() throws Exception {
    Setup s = fresh();
    night(s, DAY1, false);
    churn(s.source());
    overlapAtCommit(s);
  }

  @Test
  void twoRunsOverlappingAtCommitLeaveTheWinnersNightWholeOnAFreshOutput() throws Exception {
    overlapAtCommit(fresh());
  }

  private static void overlapAtCommit(Setup s) throws Exception {
    int before = NightlyJob.TESTING_PAUSES.get();
    CompletableFuture<NightlyJob.Result> a = CompletableFuture.supplyAsync(
        () -> night(s, DAY2, false, "testing.pause-after-check-ms=25000"));
    waitForCheck(before);
    NightlyJob.Result b = night(s, DAY2, false);
    assertEquals("committed", b.status());
    Exception e = assertThrows(Exception.class, a::join);
    JouleException je = (JouleException) (e.getCause() instanceof JouleException ? e.getCause() : e);
    assertEquals(JouleException.CONFLICT, je.exitCode(), je.getMessage());
    assertWinnersNight(s, b);
  }

  /** Waits until run A is paused after its last check, so B runs its whole night inside A's commit. */
  private static void waitForCheck(int before) throws InterruptedException {
    for (int i = 0; i < 600 && NightlyJob.TESTING_PAUSES.get() == before; i++) {
      Thread.sleep(100);
    }
    assertTrue(NightlyJob.TESTING_PAUSES.get() > before, "run A never reached its commit");
  }

  /** The night's rows, energy and runs row are all the winner's, and nothing was RESTOREd. */
  private static void assertWinnersNight(Setup s, NightlyJob.Result winner) {
    List<Row> runs = spark.read().format("delta").load(s.out().runs()).filter(col("run_key").equalTo(winner.runKey()))
        .collectAsList();
    assertEquals(1, runs.size());
    assertEquals(winner.runId(), runs.get(0).getAs("run_id"));
    long scoredByWinner = spark.read().format("delta").load(s.out().predictions())
        .filter(col("run_id").equalTo(winner.runId())).count();
    assertEquals(winner.scored(), scoredByWinner, "the rows the winner scored carry its run id");
    Row energy = spark.read().format("delta").load(s.out().energyLog()).filter(col("run_key").equalTo(winner.runKey()))
        .agg(org.apache.spark.sql.functions.sum("rows_in"), org.apache.spark.sql.functions.countDistinct(col("run_id")))
        .head();
    assertEquals(winner.rowsIn(), energy.getLong(0));
    assertEquals(1L, energy.getLong(1), "energy rows of one run only");
    for (String t : List.of(s.out().predictions(), s.out().energyLog(), s.out().runs())) {
      assertEquals(0, DeltaTable.forPath(spark, t).history().filter(col("operation").equalTo("RESTORE")).count(), t);
    }
    assertEquals(winner.rowsIn() == ROWS ? ROWS : ROWS + 20 - 2, count(s.out().predictions()));
  }

  /** The other order on a fresh output: A waits before its last check, B commits, A writes nothing. */
  @Test
  void aRunThatFindsTheNightCommittedAtItsLastCheckWritesNothingOnAFreshOutput() throws Exception {
    Setup s = fresh();
    int before = NightlyJob.TESTING_PAUSES.get();
    CompletableFuture<NightlyJob.Result> a = CompletableFuture.supplyAsync(
        () -> night(s, DAY2, false, "testing.pause-before-commit-ms=25000"));
    waitForCheck(before);
    NightlyJob.Result b = night(s, DAY2, false);
    Exception e = assertThrows(Exception.class, a::join);
    JouleException je = (JouleException) (e.getCause() instanceof JouleException ? e.getCause() : e);
    assertEquals(JouleException.CONFLICT, je.exitCode(), je.getMessage());
    assertTrue(je.getMessage().contains("nothing of this run was written"), je.getMessage());
    assertWinnersNight(s, b);
    for (String t : List.of(s.out().predictions(), s.out().energyLog(), s.out().runs())) {
      assertEquals(1, DeltaTable.forPath(spark, t).history().count(), "only the winner committed to " + t);
    }
  }

  /** A first night, the day-2 churn, then day 2 run as a user would and killed (-9) right after its energy_log commit. */
  private static Setup nightKilledAfterEnergyLog(String folder) throws Exception {
    Setup s = fresh();
    night(s, DAY1, false);
    churn(s.source());
    ConsoleErrorsIT.Run killed = ConsoleErrorsIT.joule(tmp.resolve(folder), Map.of(), "nightly",
        "--date", DAY2.toString(), "--set", "nightly.source=" + s.source(), "--set", "nightly.model=" + model,
        "--set", "nightly.output=" + s.out().root(), "--set", "testing.halt-after-table=energy_log");
    assertEquals(137, killed.code(), String.join("\n", killed.err()));
    return s;
  }

  /**
   * kill -9 of a first night right after it created the predictions table: recovery removes the
   * table it created whole, key indexes included, as if the night had never run.
   */
  @Test
  void aFirstNightKilledAfterCreatingPredictionsIsRemovedWithItsKeyIndexes() throws Exception {
    Setup s = fresh();
    ConsoleErrorsIT.Run killed = ConsoleErrorsIT.joule(tmp.resolve("kill-first-night"), Map.of(), "nightly",
        "--date", DAY1.toString(), "--set", "nightly.source=" + s.source(), "--set", "nightly.model=" + model,
        "--set", "nightly.output=" + s.out().root(), "--set", "testing.halt-after-table=predictions");
    assertEquals(137, killed.code(), String.join("\n", killed.err()));
    Path indexes = Path.of(s.out().predictions(), dev.joule.udfs.files.KeyIndex.DIR);
    assertFalse(indexNames(indexes).isEmpty(), "the killed night's files came with their indexes");
    var recovered = s.out().recover(spark, java.time.Duration.ZERO);
    assertEquals(List.of(dev.joule.jobs.delta.CommitUndo.Outcome.TABLE_REMOVED),
        recovered.stream().map(dev.joule.jobs.delta.RunRecovery.Recovered::outcome).toList());
    assertFalse(java.nio.file.Files.exists(Path.of(s.out().predictions())), "the table it created is gone");
  }

  /** kill -9 of a night right after its energy_log commit; its rerun undoes the killed attempt and completes. */
  @Test
  void aNightKilledBeforeItsRunsRowIsCompletedByItsRerun() throws Exception {
    Setup s = nightKilledAfterEnergyLog("kill-night");
    java.nio.file.Path staging = java.nio.file.Path.of(s.out().root(), "_joule_staging");
    assertFalse(java.nio.file.Files.exists(staging), "a night stages nothing: its tasks write the tables' files");
    assertEquals(1, spark.read().format("delta").load(s.out().runs()).count(), "the killed night has no runs row");
    NightlyJob.Result rerun = night(s, DAY2, false, "recovery.grace=0s");
    assertEquals("committed", rerun.status());
    assertWinnersNight(s, rerun);
    Row totals = spark.read().format("delta").load(s.out().energyLog())
        .agg(org.apache.spark.sql.functions.sum("rows_in")).head();
    Row runs = spark.read().format("delta").load(s.out().runs())
        .agg(org.apache.spark.sql.functions.sum("rows_in")).head();
    assertEquals(runs.getLong(0), totals.getLong(0), "energy_log's totals are the runs table's");
  }

  /**
   * A rerun inside the recovery grace (the killed attempt's commits are not undone yet, since it
   * might still be running) replaces what that attempt left: no id twice, no energy row twice.
   */
  @Test
  void aRerunWithinTheGraceReplacesWhatAKilledAttemptLeft() throws Exception {
    Setup s = nightKilledAfterEnergyLog("kill-night-grace");
    NightlyJob.Result rerun = night(s, DAY2, false); // default grace: nothing of the killed attempt is undone
    assertEquals("committed", rerun.status());
    assertWinnersNight(s, rerun); // one runs row; this night's energy rows are the rerun's alone
    Dataset<Row> p = spark.read().format("delta").load(s.out().predictions());
    assertEquals(p.count(), p.select("id").distinct().count(), "no id twice");
  }

  /** Every row of an id the night reads more than once is a reject; no id gets two predictions. */
  @org.junit.jupiter.params.ParameterizedTest(name = "score.driver-census-rows = {0}")
  @org.junit.jupiter.params.provider.ValueSource(strings = {"1000000", "0"}) // driver census and net change, shuffles
  void aNightRejectsEveryRowOfAnIdItReadsMoreThanOnce(String driverRows) {
    Setup s = fresh();
    spark.read().format("delta").load(generated).filter(col("id").equalTo(ROWS + 1)).selectExpr("5L AS id", "embedding")
        .union(spark.read().format("delta").load(generated).filter(col("id").equalTo(ROWS + 2)).selectExpr("5L AS id", "embedding"))
        .write().format("delta").mode("append").save(s.source());
    NightlyJob.Result r = night(s, DAY1, false, "score.driver-census-rows=" + driverRows);
    assertEquals("committed", r.status());
    assertEquals(ROWS - 1, count(s.out().predictions()));
    assertEquals(0, spark.read().format("delta").load(s.out().predictions()).filter(col("id").equalTo(5)).count());
    List<Row> rejects = spark.read().format("delta").load(s.out().rejects()).collectAsList();
    assertEquals(3, rejects.size());
    assertTrue(rejects.stream().allMatch(x -> x.<String>getAs("reason")
        .equals("duplicate_id: id 5 is on 3 rows of the input; none of them is scored")), rejects.toString());

    // Next night, from the change data feed: one commit inserts a new id twice, and another id once.
    spark.read().format("delta").load(generated).filter(col("id").isin(ROWS + 3, ROWS + 4, ROWS + 5))
        .selectExpr("CASE WHEN id = " + (ROWS + 5) + " THEN id ELSE " + (ROWS + 50) + "L END AS id", "embedding")
        .write().format("delta").mode("append").save(s.source());
    // Refused where no duplicated id is allowed (exit 3), the night holds nothing cached after it
    // (the window's cache, on the "0" path; the driver's net change caches nothing).
    int cachedBefore = spark.sparkContext().getPersistentRDDs().size();
    dev.joule.jobs.JouleException refused = org.junit.jupiter.api.Assertions.assertThrows(
        dev.joule.jobs.JouleException.class, () -> night(s, DAY2, false, "score.driver-census-rows=" + driverRows,
            "score.max-duplicate-ids=0"));
    assertEquals(dev.joule.jobs.JouleException.INPUT, refused.exitCode(), refused.getMessage());
    assertEquals(cachedBefore, spark.sparkContext().getPersistentRDDs().size(), "the changes' cache released");
    NightlyJob.Result next = night(s, DAY2, false, "score.driver-census-rows=" + driverRows);
    assertEquals("cdf", next.scanMode());
    assertEquals(3, next.rowsIn());
    assertEquals(1, next.scored());
    assertEquals(0, spark.read().format("delta").load(s.out().predictions()).filter(col("id").equalTo(ROWS + 50)).count());
    assertEquals(2, spark.read().format("delta").load(s.out().rejects()).filter(col("id").equalTo(ROWS + 50)).count());
  }

  /**
   * The net change per id over several versions: an id updated then deleted is deleted; an id
   * inserted then updated is scored once, from its last version; an id deleted and inserted
   * again in later versions is scored. The answers equal a full recompute's.
   */
  @org.junit.jupiter.params.ParameterizedTest(name = "score.driver-census-rows = {0}")
  @org.junit.jupiter.params.provider.ValueSource(strings = {"1000000", "0"}) // the driver's net change, the window's
  void aNightKeepsTheLastChangeOfEachIdAcrossVersions(String driverRows) {
    Setup s = fresh();
    night(s, DAY1, false);
    DeltaTable t = DeltaTable.forPath(spark, s.source());
    t.update(expr("id = 11"), java.util.Map.of("embedding", expr("transform(embedding, x -> -x)")));
    t.delete(expr("id = 11"));
    spark.read().format("delta").load(generated).filter(col("id").equalTo(ROWS + 7)).select("id", "embedding")
        .write().format("delta").mode("append").save(s.source());
    t.update(expr("id = " + (ROWS + 7)), java.util.Map.of("embedding", expr("transform(embedding, x -> -x)")));
    t.delete(expr("id = 13"));
    spark.read().format("delta").load(generated).filter(col("id").equalTo(13)).select("id", "embedding")
        .write().format("delta").mode("append").save(s.source());
    NightlyJob.Result r = night(s, DAY2, false, "score.driver-census-rows=" + driverRows);
    assertEquals("cdf", r.scanMode());
    assertEquals(2, r.rowsIn(), "ids " + (ROWS + 7) + " and 13, once each");
    assertEquals(1, r.deleted(), "id 11");
    Dataset<Row> p = spark.read().format("delta").load(s.out().predictions());
    assertEquals(0, p.filter(col("id").equalTo(11)).count());
    assertEquals(ROWS, p.count(), "one row deleted, one added");
    assertEquals(p.count(), p.select("id").distinct().count(), "one row per id");
    List<String> incremental = p.select("id", "label").orderBy("id").collectAsList().stream().map(Row::toString).toList();
    NightlyJob.Result full = night(s, DAY2, true);
    assertEquals(incremental, spark.read().format("delta").load(s.out().predictions()).select("id", "label")
        .orderBy("id").collectAsList().stream().map(Row::toString).toList(),
        "the incremental night's answers are a full recompute's (" + full.scored() + " rows)");
  }

  /**
   * An overwrite that writes an id again in the same commit (a rewrite of the table, a
   * replaceWhere) gives the change feed a delete and an insert of that id in one version: the
   * id still exists, so the night scores its new row and deletes nothing.
   */
  @org.junit.jupiter.params.ParameterizedTest(name = "score.driver-census-rows = {0}")
  @org.junit.jupiter.params.provider.ValueSource(strings = {"1000000", "0"}) // the driver's net change, the window's
  void anIdDeletedAndInsertedInOneVersionIsScoredNotDeleted(String driverRows) {
    Setup s = fresh();
    night(s, DAY1, false);
    // The whole source rewritten in one commit: ids below 100 with new embeddings, id 17 gone.
    spark.read().format("delta").load(generated).filter(col("id").lt(ROWS).and(col("id").notEqual(17)))
        .selectExpr("id", "CASE WHEN id < 100 THEN transform(embedding, x -> -x) ELSE embedding END AS embedding")
        .write().format("delta").mode("overwrite").save(s.source());
    NightlyJob.Result r = night(s, DAY2, false, "score.driver-census-rows=" + driverRows);
    assertEquals("cdf", r.scanMode());
    assertEquals(ROWS - 1, r.rowsIn(), "every id written again is a change");
    assertEquals(1, r.deleted(), "id 17");
    Dataset<Row> p = spark.read().format("delta").load(s.out().predictions());
    assertEquals(ROWS - 1, p.count());
    assertEquals(p.count(), p.select("id").distinct().count(), "one row per id");
    List<String> incremental = p.select("id", "label").orderBy("id").collectAsList().stream().map(Row::toString).toList();
    night(s, DAY2, true);
    assertEquals(incremental, spark.read().format("delta").load(s.out().predictions()).select("id", "label")
        .orderBy("id").collectAsList().stream().map(Row::toString).toList(), "a full recompute's answers");
  }

  /** Rows without an id are not one id: each one a night reads is rejected, in any version. */
  @org.junit.jupiter.params.ParameterizedTest(name = "score.driver-census-rows = {0}")
  @org.junit.jupiter.params.provider.ValueSource(strings = {"1000000", "0"}) // the driver's net change, the window's
  void everyRowWithoutAnIdInTheChangesIsRejected(String driverRows) {
    Setup s = fresh();
    night(s, DAY1, false);
    Dataset<Row> one = spark.read().format("delta").load(generated).filter(col("id").equalTo(ROWS + 1));
    one.selectExpr("CAST(NULL AS BIGINT) AS id", "embedding").write().format("delta").mode("append").save(s.source());
    one.selectExpr("CAST(NULL AS BIGINT) AS id", "embedding").write().format("delta").mode("append").save(s.source());
    one.select("id", "embedding").write().format("delta").mode("append").save(s.source());
    NightlyJob.Result r = night(s, DAY2, false, "score.driver-census-rows=" + driverRows);
    assertEquals("cdf", r.scanMode());
    assertEquals(3, r.rowsIn(), "two rows without an id (two versions) and one new id");
    assertEquals(1, r.scored());
    assertEquals(2, r.rejected());
    assertEquals(2, spark.read().format("delta").load(s.out().rejects()).filter(col("run_id").equalTo(r.runId())
        .and(col("id").isNull()).and(col("reason").startsWith("null_id"))).count());
  }

  /**
   * A night that merges (here with tombstones) commits its rejects files but not its
   * predictions files, which the MERGE read as its source: those are removed, though a task
   * names its two files alike.
   */
  @Test
  void aMergedNightLeavesNoUncommittedFilesOfItsOwn() throws Exception {
    Setup s = fresh();
    night(s, DAY1, false);
    spark.read().format("delta").load(generated).filter(col("id").isin(ROWS + 3, ROWS + 4, ROWS + 5))
        .selectExpr("CASE WHEN id = " + (ROWS + 5) + " THEN id ELSE " + (ROWS + 60) + "L END AS id", "embedding")
        .write().format("delta").mode("append").save(s.source());
    NightlyJob.Result r = night(s, DAY2, false, "nightly.deletes=tombstone");
    assertEquals(2, r.rejected());
    assertEquals("MERGE", DeltaTable.forPath(spark, s.out().predictions()).history(1).head().getAs("operation"));
    String mark = dev.joule.udfs.files.TableFiles.runMark(r.runId());
    try (var files = java.nio.file.Files.list(Path.of(s.out().predictions()))) {
      assertEquals(List.of(), files.map(f -> f.getFileName().toString()).filter(n -> n.contains(mark)).toList(),
          "the night's predictions files, read by the MERGE, are not left in the folder");
    }
    assertEquals(2, spark.read().format("delta").load(s.out().rejects()).filter(col("run_id").equalTo(r.runId())).count());
  }

  /** Issue 23 item 3: a model of another dimension under the same model id publishes nothing. */
  @Test
  void aNightWhoseModelFitsNoRowCommitsNothingAndExits3() {
    Setup s = fresh();
    night(s, DAY1, false);
    churn(s.source());
    List<Long> before = versions(s.out());
    Path model8 = new GenerateJob(spark).run(new GenerateJob.Request(50, 8, 3, tmp.resolve("gen8").toString(),
        "array", 5, 0.3)).model();
    JouleException e = assertThrows(JouleException.class,
        () -> night(s, DAY2, false, "nightly.model=" + model8));
    assertEquals(JouleException.INPUT, e.exitCode());
    assertTrue(e.getMessage().contains("rows rejected") && e.getMessage().contains("wrong_dim"), e.getMessage());
    assertEquals(before, versions(s.out()), "nothing committed");
    assertEquals(ROWS, count(s.out().predictions()));
  }

  @Test
  void vacuumedChangeDataFallsBackToAFullScanAndSaysWhy() {
    Setup s = fresh();
    night(s, DAY1, false);
    churn(s.source());
    vacuumNow(s.source());
    NightlyJob.Result d2 = night(s, DAY2, false);
    assertEquals("full", d2.scanMode());
    assertNotNull(d2.fullScanReason());
    assertTrue(d2.fullScanReason().contains("change data"), d2.fullScanReason());
    Row run = spark.read().format("delta").load(s.out().runs()).filter(col("run_key").equalTo(d2.runKey())).head();
    assertEquals(d2.fullScanReason(), run.getAs("full_scan_reason"));
    assertEquals(ROWS + 20 - 2, count(s.out().predictions()), "deletes found by the full scan too");
  }

  private static List<Long> versions(OutputTables out) {
    List<Long> v = new ArrayList<>();
    for (String t : List.of(out.predictions(), out.rejects(), out.energyLog(), out.runs())) {
      v.add(DeltaIO.exists(spark, t) ? DeltaIO.latestVersion(spark, t) : -1L);
    }
    return v;
  }
}
