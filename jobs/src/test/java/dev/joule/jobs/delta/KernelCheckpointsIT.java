package dev.joule.jobs.delta;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.LocalSparkIT;
import dev.joule.jobs.console.SparkJobProfile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.delta.DeltaLog;
import org.apache.spark.sql.delta.Snapshot;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

/**
 * A table a score or a night creates is checkpointed by Delta Kernel every tenth version, with
 * no Spark job, and Delta Spark reads it from that checkpoint exactly as from the JSON log
 * (files, deletion vectors, stats, rows); expired versions go with their checksum files; a table
 * not named to {@code keepingCheckpointsOf} (an output folder's commit names its four) keeps Delta
 * Spark's own.
 */
class KernelCheckpointsIT extends LocalSparkIT {

  private static final StructType SCHEMA = new StructType().add("id", DataTypes.LongType)
      .add("run_id", DataTypes.StringType);

  @Test
  void tenthVersionsAreCheckpointedByKernelAsDeltaSparkReadsThem() throws Exception {
    String t = tmp.resolve("kept").toString();
    SparkJobProfile profile = SparkJobProfile.attach(spark);
    for (int run = 0; run < 19; run++) { // versions 0..18, each run replacing the rows of the one two before it
      new TableCommit(spark, "run-" + run).keepingCheckpointsOf(List.of(t)).addRows(t, SCHEMA,
          List.of(RowFactory.create(2L * run, "r" + run % 2), RowFactory.create(2L * run + 1, "r" + run % 2)),
          run < 2 ? null : java.util.Map.of("run_id", "r" + run % 2), List.of("run_id"), TableCommit.Guard.NONE);
    }
    List<SparkJobProfile.Job> jobs = profile.stop(spark);
    assertEquals(List.of(), jobs, "no Spark job: the rows, the commits and the checkpoint at 10 all on the driver");
    // Versions 19 and 20 by Delta Spark, through the same commit path: a deletion vector in the checkpoint.
    TableCommit other = new TableCommit(spark, "other");
    other.sql(t, "ALTER TABLE delta.`" + t + "` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')");
    other.merge(t, d -> d.delete("id = 36"));
    Path log = Path.of(t, "_delta_log");
    assertEquals(Set.of("00000000000000000010.checkpoint.parquet", "00000000000000000020.checkpoint.parquet"),
        names(log, ".checkpoint.parquet"));
    // Kernel's own _last_checkpoint (version and size only; Delta Spark's adds the schema and a
    // checksum): the checkpoint at 20, after Delta Spark's commits with a deletion vector, is Kernel's.
    assertEquals("{\"version\":20,\"size\":",
        Files.readString(log.resolve("_last_checkpoint")).strip().replaceAll("\\d+}$", ""));
    assertEquals(KernelCheckpoints.HANDED_OVER, DeltaIO.properties(spark, t).get(KernelCheckpoints.PROPERTY));

    // Delta Spark, from the checkpoint, against a copy of the table read from its JSON log alone.
    Path copy = tmp.resolve("json-only");
    copyTree(Path.of(t), copy);
    for (String n : names(copy.resolve("_delta_log"), "")) { // checkpoints, their .crc files, _last_checkpoint
      if (!n.contains("checkpoint")) {
        continue;
      }
      Files.delete(copy.resolve("_delta_log").resolve(n));
    }
    Snapshot fromCheckpoint = DeltaLog.forTable(spark, t).update(false, scala.Option.empty(), scala.Option.empty());
    Snapshot fromJson = DeltaLog.forTable(spark, copy.toString()).update(false, scala.Option.empty(),
        scala.Option.empty());
    assertEquals(20, fromCheckpoint.checkpointProvider().version());
    assertEquals(-1, fromJson.checkpointProvider().version());
    assertEquals(files(fromJson), files(fromCheckpoint));
    assertEquals(rows(copy.toString()), rows(t));
    assertEquals(List.of("34 r1", "35 r1", "37 r0"), rows(t));
    assertTrue(files(fromCheckpoint).stream().anyMatch(f -> f.contains("DeletionVectorDescriptor")),
        "a deletion vector: " + files(fromCheckpoint));
  }

  @Test
  void otherTablesKeepDeltaSparksCheckpoints() {
    String t = tmp.resolve("spark-kept").toString();
    for (int run = 0; run < 11; run++) {
      new TableCommit(spark, "run-" + run).keepingCheckpointsOf(List.of(t + "-other")).addRows(t, SCHEMA,
          List.of(RowFactory.create((long) run, "r")), null, List.of("run_id"), TableCommit.Guard.NONE);
    }
    assertFalse(DeltaIO.properties(spark, t).containsKey(KernelCheckpoints.PROPERTY));
    assertEquals(Set.of("00000000000000000010.checkpoint.parquet"),
        names(Path.of(t, "_delta_log"), ".checkpoint.parquet"));
  }

  /** Every command that writes a score's or a night's output tables commits through {@code OutputTables.commit}. */
  @Test
  void anOutputFoldersCommitHandsOverItsFourTablesAndNoOther() {
    var out = new dev.joule.jobs.score.OutputTables(tmp.resolve("out").toString());
    String beside = tmp.resolve("out-beside").toString();
    TableCommit commit = out.commit(spark, "run-out");
    for (String t : java.util.stream.Stream.concat(out.all().stream(), java.util.stream.Stream.of(beside)).toList()) {
      commit.addRows(t, SCHEMA, List.of(RowFactory.create(1L, "r")), null, List.of("run_id"), TableCommit.Guard.NONE);
    }
    for (String t : out.all()) {
      assertEquals(KernelCheckpoints.HANDED_OVER, DeltaIO.properties(spark, t).get(KernelCheckpoints.PROPERTY), t);
    }
    assertFalse(DeltaIO.properties(spark, beside).containsKey(KernelCheckpoints.PROPERTY));
  }

  @Test
  void expiredVersionsGoWithTheirChecksumFiles() {
    String t = tmp.resolve("expiring").toString();
    new TableCommit(spark, "run-0").keepingCheckpointsOf(List.of(t)).addRows(t, SCHEMA,
        List.of(RowFactory.create(0L, "r")), null, List.of("run_id"), TableCommit.Guard.NONE);
    new TableCommit(spark, "retention").sql(t, "ALTER TABLE delta.`" + t + "` SET TBLPROPERTIES "
        + "('delta.logRetentionDuration' = 'interval 0 seconds', "
        + "'delta.deletedFileRetentionDuration' = 'interval 0 seconds')"); // version 1: older versions expire at once
    for (int run = 1; run < 20; run++) { // versions 2..20
      new TableCommit(spark, "run-" + run).addRows(t, SCHEMA, List.of(RowFactory.create((long) run, "r")), null,
          List.of("run_id"), TableCommit.Guard.NONE);
    }
    // With no retention, each checkpoint (10, then 20) removed every version before it, and their
    // checksum files (N.crc, and Hadoop's .N.crc.crc beside each) went with them (Kernel leaves
    // those: KernelCheckpoints.removeExpiredChecksums).
    Set<String> versions = names(Path.of(t, "_delta_log"), "").stream()
        .map(n -> n.replaceAll("^\\.?(\\d{20})\\..*$", "$1")).filter(n -> n.matches("\\d{20}"))
        .collect(Collectors.toCollection(TreeSet::new));
    assertEquals(Set.of("00000000000000000020"), versions);
    assertEquals(20, rows(t).size());
  }

  private static Set<String> files(Snapshot s) {
    return s.allFiles().collectAsList().stream().map(f -> f.path() + " " + f.deletionVector() + " " + f.size() + " " + f.stats())
        .collect(Collectors.toCollection(TreeSet::new));
  }

  private static List<String> rows(String t) {
    return spark.read().format("delta").load(t).orderBy("id").collectAsList().stream()
        .map((Row r) -> r.getLong(0) + " " + r.getString(1)).toList();
  }

  private static Set<String> names(Path dir, String ending) {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(ending))
          .collect(Collectors.toCollection(TreeSet::new));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static void copyTree(Path from, Path to) throws java.io.IOException {
    try (Stream<Path> s = Files.walk(from)) {
      for (Path p : s.toList()) {
        Files.copy(p, to.resolve(from.relativize(p).toString()));
      }
    }
  }
}
