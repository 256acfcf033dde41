package dev.joule.jobs.delta;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Which files a replacing commit removes, from their statistics alone. */
class FileCommitTest {

  private static Map<String, String> constants(String runKey) {
    Map<String, String> c = new LinkedHashMap<>();
    c.put("run_id", "r1");
    c.put("run_key", runKey); // null: null in every row
    return c;
  }

  @Test
  void aFileOfOneValueMatchesThatValueOnly() {
    String stats = FileCommit.stats(constants("k1"), 3);
    assertEquals(FileCommit.Match.ALL, FileCommit.match(stats, Map.of("run_key", "k1")));
    assertEquals(FileCommit.Match.NONE, FileCommit.match(stats, Map.of("run_key", "k2")));
    assertEquals(FileCommit.Match.ALL, FileCommit.match(stats, Map.of("run_key", "k1", "run_id", "r1")));
    assertEquals(FileCommit.Match.NONE, FileCommit.match(stats, Map.of("run_key", "k1", "run_id", "r2")));
  }

  @Test
  void aColumnNullInEveryRowMatchesNoValue() {
    // A score run's runs row has no run key: replacing a night's row must not take it for a mixed file.
    String stats = FileCommit.stats(constants(null), 1);
    assertEquals(FileCommit.Match.NONE, FileCommit.match(stats, Map.of("run_key", "k1")));
    String deltaWritten = "{\"numRecords\":4,\"minValues\":{},\"maxValues\":{},\"nullCount\":{\"run_key\":4}}";
    assertEquals(FileCommit.Match.NONE, FileCommit.match(deltaWritten, Map.of("run_key", "k1")));
  }

  @Test
  void whatTheStatisticsCannotTellMayMatch() {
    String someNull = "{\"numRecords\":4,\"minValues\":{},\"maxValues\":{},\"nullCount\":{\"run_key\":3}}";
    assertEquals(FileCommit.Match.SOME, FileCommit.match(someNull, Map.of("run_key", "k1")));
    String range = "{\"numRecords\":4,\"minValues\":{\"run_key\":\"a\"},\"maxValues\":{\"run_key\":\"z\"},"
        + "\"nullCount\":{\"run_key\":0}}";
    assertEquals(FileCommit.Match.SOME, FileCommit.match(range, Map.of("run_key", "k1")));
    assertEquals(FileCommit.Match.SOME, FileCommit.match(null, Map.of("run_key", "k1")));
    assertEquals(FileCommit.Match.SOME, FileCommit.match("{\"numRecords\":2}", Map.of("run_key", "k1")));
  }

  @Test
  void aWrittenFilesIdRangeIsItsStatisticsAndBoundsTheKeysItMayHold() {
    String stats = FileCommit.stats(constants("k1"), 3, "id", new dev.joule.udfs.files.TaskOutput.IntegerRange(-5, 40));
    assertEquals(java.util.Arrays.toString(new long[] {-5, 40}),
        java.util.Arrays.toString(FileCommit.integerBounds(stats, "id")));
    assertEquals(FileCommit.Match.ALL, FileCommit.match(stats, Map.of("run_key", "k1")), "constants unchanged");
    long[] keys = KeyedMarks.integerKeys(org.apache.spark.sql.types.DataTypes.LongType,
        new java.util.HashSet<>(java.util.List.of(100L, -9L, 7L)));
    assertEquals(java.util.Arrays.toString(new long[] {-9, 7, 100}), java.util.Arrays.toString(keys));
    assertEquals(true, KeyedMarks.mayHoldAny(stats, "id", keys), "7 is inside");
    assertEquals(true, KeyedMarks.mayHoldAny(stats, "id", new long[] {40}), "the bounds are inclusive");
    assertEquals(true, KeyedMarks.mayHoldAny(stats, "id", new long[] {-5}));
    assertEquals(false, KeyedMarks.mayHoldAny(stats, "id", new long[] {-9, 41, 100}), "all outside");
    assertEquals(false, KeyedMarks.mayHoldAny(stats, "id", new long[] {-6}));
    // No bounds (none kept, another column, not integers): the file may hold any key.
    assertEquals(true, KeyedMarks.mayHoldAny(FileCommit.stats(constants("k1"), 3), "id", new long[] {1000}));
    assertEquals(true, KeyedMarks.mayHoldAny(stats, "other", new long[] {1000}));
    assertEquals(true, KeyedMarks.mayHoldAny("{\"minValues\":{\"id\":\"a\"},\"maxValues\":{\"id\":\"b\"}}", "id",
        new long[] {1000}));
    assertEquals(true, KeyedMarks.mayHoldAny(null, "id", new long[] {1000}));
    // A constant column keeps its constant's statistics; no rows, no bounds.
    assertEquals(null, FileCommit.integerBounds(FileCommit.stats(Map.of("id", "3"), 3, "id",
        new dev.joule.udfs.files.TaskOutput.IntegerRange(1, 2)), "id"));
    assertEquals(null, FileCommit.integerBounds(FileCommit.stats(Map.of(), 0, "id",
        new dev.joule.udfs.files.TaskOutput.IntegerRange(Long.MAX_VALUE, Long.MIN_VALUE)), "id"));
    // Keys of a string column are not ranged; a key of the wrong type is refused, not missed.
    assertEquals(null, KeyedMarks.integerKeys(org.apache.spark.sql.types.DataTypes.StringType,
        java.util.Set.of("a")));
    org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> KeyedMarks.integerKeys(
        org.apache.spark.sql.types.DataTypes.LongType, java.util.Set.of("7")));
  }
}
