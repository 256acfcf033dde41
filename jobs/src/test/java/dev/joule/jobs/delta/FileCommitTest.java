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
}
