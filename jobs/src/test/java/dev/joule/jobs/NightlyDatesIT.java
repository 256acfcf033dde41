package dev.joule.jobs;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.expr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.nightly.NightlyJob;
import io.delta.tables.DeltaTable;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which nights nightly and backfill run, and how a night says what it read: committed nights are
 * skipped before their source is read, nights that have not ended are refused (with a fixed clock),
 * and a first night or a night without changes says so in words.
 */
class NightlyDatesIT {

  static final int ROWS = 600;
  static final AtomicInteger SEQ = new AtomicInteger();
  /** "Today" in the issue: 2026-12-04, late afternoon UTC. */
  static final Clock DEC_4 = Clock.fixed(Instant.parse("2026-12-04T17:24:00Z"), ZoneOffset.UTC);

  @TempDir static Path tmp;
  static SparkSession spark;
  static String generated;
  static Path model;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    GenerateJob.Output gen = new GenerateJob(spark).run(
        new GenerateJob.Request(ROWS + 20, 16, 3, tmp.resolve("gen").toString(), "array", 7, 0.3));
    generated = gen.embeddings();
    model = gen.model();
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  /** A fresh source (ids 0..ROWS-1, change data feed on) and its own output folder. */
  record Setup(String source, String output) {
    List<String> sets(String... extra) {
      // The quality gate is tested elsewhere; off, each night costs a Spark job less.
      List<String> all = new ArrayList<>(List.of("nightly.source=" + source, "nightly.model=" + model,
          "nightly.output=" + output, "quality.sample-rows=0"));
      all.addAll(List.of(extra));
      return all;
    }
  }

  static Setup fresh() {
    int n = SEQ.incrementAndGet();
    String source = tmp.resolve("source-" + n).toString();
    spark.read().format("delta").load(generated).filter(col("id").lt(ROWS)).select("id", "embedding")
        .write().format("delta").option("delta.enableChangeDataFeed", "true").save(source);
    return new Setup(source, tmp.resolve("out-" + n).toString());
  }

  static NightlyJob job(Setup s, Clock clock, String... sets) {
    return new NightlyJob(spark, TestSpark.config(tmp, s.sets(sets).toArray(String[]::new)), clock);
  }

  /** Three commits: 20 rows inserted, 3 updated, 1 deleted. */
  static void churn(String source) {
    spark.read().format("delta").load(generated).filter(col("id").geq(ROWS)).select("id", "embedding")
        .write().format("delta").mode("append").save(source);
    DeltaTable t = DeltaTable.forPath(spark, source);
    t.update(expr("id % 200 = 7 AND id < " + ROWS), java.util.Map.of("embedding", expr("transform(embedding, x -> -x)")));
    t.delete(expr("id = 3"));
  }

  static Instant firstCommit(String source) {
    return DeltaTable.forPath(spark, source).history().orderBy(col("version")).select("timestamp").head()
        .getTimestamp(0).toInstant();
  }

  static List<String> statuses(List<NightlyJob.Result> rs) {
    return rs.stream().map(NightlyJob.Result::status).toList();
  }

  static Row runsRow(Setup s, String runKey) {
    return spark.read().format("delta").load(s.output() + "/runs").filter(col("run_key").equalTo(runKey)).head();
  }

  @Test
  void backfillSkipsCommittedNightsBeforeReadingTheSourceAsOfTheirDate() {
    Setup s = fresh();
    // The source's history starts on day t0; "now" is three days later.
    LocalDate t0 = LocalDate.ofInstant(firstCommit(s.source()), ZoneOffset.UTC);
    Clock later = Clock.fixed(t0.plusDays(3).atStartOfDay(ZoneOffset.UTC).toInstant().plusSeconds(3600), ZoneOffset.UTC);
    // Two nights committed as of latest (as the cron example runs them), dated before that history.
    assertEquals("committed", job(s, later).run(new NightlyJob.Request(t0.minusDays(2), false, false)).status());
    assertEquals("committed", job(s, later).run(new NightlyJob.Request(t0.minusDays(1), false, false)).status());
    churn(s.source());
    long latest = DeltaIO.readPinned(spark, s.source(), "source").version();

    List<String> printed = new ArrayList<>();
    List<NightlyJob.Result> rs = job(s, later).backfill(t0.minusDays(2), t0.plusDays(1), false,
        r -> printed.add(r.runKey() + " " + r.status()));
    assertEquals(List.of("already_committed", "already_committed", "committed", "committed"), statuses(rs));
    assertEquals(4, printed.size(), "each night is reported as it ends");
    // The backfilled nights read the source as of the end of their dates: all of it by t0+1's end.
    assertEquals(latest, rs.get(3).sourceTo());
    assertEquals("committed", runsRow(s, rs.get(2).runKey()).getAs("status"));

    // A night that is not committed and ended before the source's first version is still a data
    // error (exit 3), and says from which night on a backfill can start.
    JouleException early = assertThrows(JouleException.class,
        () -> job(s, later).backfill(t0.minusDays(3), t0.minusDays(3), false, r -> { }));
    assertEquals(JouleException.INPUT, early.exitCode());
    assertTrue(early.getMessage().contains("the first night it can be read as of the end of is " + t0), early.getMessage());
  }

  @Test
  void nightsThatHaveNotEndedAreRefusedUnlessAllowed() {
    Setup s = fresh();
    JouleConfig endOfDate = TestSpark.config(tmp, s.sets("nightly.as-of=end-of-date").toArray(String[]::new));
    // Today (2026-12-04) has not ended, nor have the 5th and 6th: as of end of date, refused (exit 2).
    for (String d : List.of("2026-12-04", "2026-12-05", "2026-12-06")) {
      JouleException e = assertThrows(JouleException.class, () -> new NightlyJob(spark, endOfDate, DEC_4)
          .run(new NightlyJob.Request(LocalDate.parse(d), false, false)), d);
      assertEquals(JouleException.USAGE, e.exitCode(), e.getMessage());
      assertTrue(e.getMessage().contains("night " + d + " has not ended yet"), e.getMessage());
      assertTrue(e.getMessage().contains("--allow-unfinished"), e.getMessage());
    }
    // As of latest, a night names a date; today's may run, a date after today is refused.
    JouleException future = assertThrows(JouleException.class, () -> job(s, DEC_4)
        .run(new NightlyJob.Request(LocalDate.parse("2026-12-05"), false, false)));
    assertEquals(JouleException.USAGE, future.exitCode());
    assertTrue(future.getMessage().contains("night 2026-12-05 is in the future (today is 2026-12-04 UTC)"),
        future.getMessage());

    // A backfill over the range is refused whole, before any night runs.
    JouleException range = assertThrows(JouleException.class, () -> new NightlyJob(spark, endOfDate, DEC_4)
        .backfill(LocalDate.parse("2026-12-01"), LocalDate.parse("2026-12-06"), false, r -> { }));
    assertEquals(JouleException.USAGE, range.exitCode());
    assertTrue(range.getMessage().contains("the nights from 2026-12-04 on have not ended yet"), range.getMessage());
    assertTrue(range.getMessage().contains("End the range at 2026-12-03"), range.getMessage());
    assertFalse(DeltaIO.exists(spark, s.output() + "/runs"), "nothing was committed");

    // The date ends in nightly.time-zone: at 23:30 UTC on the 4th, the 4th has ended in Tokyo.
    Clock lateOn4th = Clock.fixed(Instant.parse("2026-12-04T23:30:00Z"), ZoneOffset.UTC);
    LocalDate dec4 = LocalDate.parse("2026-12-04");
    assertThrows(JouleException.class, () -> NightlyJob.checkBackfill(endOfDate, lateOn4th, dec4, dec4, false));
    NightlyJob.checkBackfill(endOfDate.with("nightly.time-zone", "Asia/Tokyo"), lateOn4th, dec4, dec4, false);
    JouleException badZone = assertThrows(JouleException.class,
        () -> NightlyJob.checkBackfill(endOfDate.with("nightly.time-zone", "Mars/Olympus"), lateOn4th, dec4, dec4, false));
    assertEquals(JouleException.USAGE, badZone.exitCode());

    // Forced, an unfinished night reads the latest source version.
    NightlyJob.Result forced = new NightlyJob(spark, endOfDate, DEC_4)
        .run(new NightlyJob.Request(LocalDate.parse("2099-01-01"), false, false, true));
    assertEquals("committed", forced.status());
    assertEquals(0, forced.sourceTo());

    // Through the CLI (the system clock): exit code 2 and one line, before Spark reads anything.
    LocalDate tomorrow = LocalDate.now(ZoneOffset.UTC).plusDays(1);
    List<String> args = new ArrayList<>();
    for (String kv : s.sets()) {
      args.addAll(List.of("--set", kv));
    }
    args.addAll(List.of("backfill", "--from", tomorrow.minusDays(2).toString(), "--to", tomorrow.toString()));
    CliIT.Run cli = CliIT.joule(args.toArray(String[]::new));
    assertEquals(2, cli.code(), cli.err());
    assertTrue(cli.err().contains("End the range at " + tomorrow.minusDays(2)), cli.err());
  }

  @Test
  void aNightSaysInWordsWhatItRead() {
    Setup s = fresh();
    List<String> args = new ArrayList<>();
    for (String kv : s.sets()) {
      args.addAll(List.of("--set", kv));
    }
    LocalDate day1 = LocalDate.parse("2026-11-01");

    NightlyJob.Result first = job(s, DEC_4).run(new NightlyJob.Request(day1, false, false));
    assertEquals("first night: the whole source up to version 0", first.sourceChanges());
    Row firstRow = runsRow(s, first.runKey());
    assertEquals(-1L, (long) firstRow.getAs("source_version_from"), "the number stays; -1: no earlier night");
    assertEquals("first night: the whole source up to version 0", firstRow.getAs("source_changes"));

    List<String> day2 = new ArrayList<>(args);
    day2.addAll(List.of("nightly", "--date", day1.plusDays(1).toString()));
    CliIT.Run unchanged = CliIT.joule(day2.toArray(String[]::new));
    assertEquals(0, unchanged.code(), unchanged.err());
    assertTrue(unchanged.out().contains("night nightly:synthetic-teacher:2026-11-02 committed: "
        + "no changes since source version 0\n"), unchanged.out());
    assertFalse(unchanged.out().contains("versions 1..0"), unchanged.out());
    assertEquals("no changes since source version 0",
        runsRow(s, "nightly:synthetic-teacher:2026-11-02").getAs("source_changes"));

    churn(s.source());
    NightlyJob.Result changed = job(s, DEC_4).run(new NightlyJob.Request(day1.plusDays(2), false, false));
    assertEquals("the changes in source versions 1..3 (since version 0, from the change data feed)",
        changed.sourceChanges());
    assertEquals(changed.sourceChanges(), runsRow(s, changed.runKey()).getAs("source_changes"));

    // A rerun says what the committed night read.
    List<String> again = new ArrayList<>(args);
    again.addAll(List.of("nightly", "--date", day1.toString()));
    CliIT.Run rerun = CliIT.joule(again.toArray(String[]::new));
    assertEquals(0, rerun.code(), rerun.err());
    assertTrue(rerun.out().contains("first night: the whole source up to version 0); nothing to do"), rerun.out());
  }
}
