package dev.joule.jobs.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.JouleException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading the config: unknown keys, broken files and path keys. No Spark session is started. */
class JouleConfigTest {

  @TempDir Path tmp;

  @Test
  void aMisspeltKeyIsRefusedWithTheNearestValidOne() {
    JouleException e = assertThrows(JouleException.class,
        () -> JouleConfig.load(null, List.of("score.batch-rowz=1000")));
    assertEquals(JouleException.USAGE, e.exitCode());
    assertTrue(e.getMessage().contains("unknown configuration key joule.score.batch-rowz"), e.getMessage());
    assertTrue(e.getMessage().contains("did you mean joule.score.batch-rows?"), e.getMessage());
  }

  @Test
  void aMisspeltKeyInAFileNamesTheFile() throws Exception {
    Path f = Files.writeString(tmp.resolve("job.conf"), "joule.quality { min-agrement = 0.99 }\n");
    JouleException e = assertThrows(JouleException.class, () -> JouleConfig.load(f, List.of()));
    assertTrue(e.getMessage().contains("joule.quality.min-agrement"), e.getMessage());
    assertTrue(e.getMessage().contains("joule.quality.min-agreement"), e.getMessage());
    assertTrue(e.getMessage().contains("job.conf"), e.getMessage());
  }

  @Test
  void sparkSettingsAndHardwareProfilesAreTheUsersOwnKeys() {
    JouleConfig c = JouleConfig.load(null, List.of("spark.conf.\"spark.executor.memory\"=2g",
        "energy.hardware-profiles.my-box.match=\"EPYC\""));
    assertEquals("2g", c.sparkConf().get("spark.executor.memory"));
    // and a key far from every known one gets no suggestion, only the refusal
    JouleException e = assertThrows(JouleException.class, () -> JouleConfig.load(null, List.of("zzzz.qqqq=1")));
    assertTrue(e.getMessage().startsWith("unknown configuration key joule.zzzz.qqqq"), e.getMessage());
    assertTrue(!e.getMessage().contains("did you mean"), e.getMessage());
  }

  @Test
  void sparkConfKeysAreCheckedAndNamedAsSuch() {
    System.setProperty("spark.joule.score.batch-rowz", "5");
    try {
      JouleException e = assertThrows(JouleException.class, () -> JouleConfig.load(null, List.of()));
      assertTrue(e.getMessage().contains("(from Spark conf spark.joule.score.batch-rowz)"), e.getMessage());
    } finally {
      System.clearProperty("spark.joule.score.batch-rowz");
    }
    // The session setting the SQL function joule_energy() reads is a known key.
    System.setProperty("spark.joule.output", "/tmp/out");
    try {
      assertEquals("/tmp/out", JouleConfig.load(null, List.of()).string("output"));
    } finally {
      System.clearProperty("spark.joule.output");
    }
  }

  @Test
  void aMissingClosingBraceIsSaidInWords() throws Exception {
    Path f = Files.writeString(tmp.resolve("broken.conf"),
        "# a { in a comment\njoule {\n  score {\n    id-col = \"{id\"\n    batch-rows = 5\n  }\n");
    JouleException e = assertThrows(JouleException.class, () -> JouleConfig.load(f, List.of()));
    assertEquals(JouleException.USAGE, e.exitCode());
    assertTrue(e.getMessage().contains("the '{' opened at line 2 is never closed (missing '}')"), e.getMessage());
  }

  @Test
  void pathKeysAreQualifiedOnceWhereTheConfigIsLoaded() {
    JouleConfig c = JouleConfig.load(null, List.of("nightly.source=data/emb", "nightly.output=s3a://bucket/night",
        "nightly.model=./m.json"));
    assertEquals(Path.of("data/emb").toAbsolutePath().normalize().toString(), c.string("nightly.source"));
    assertEquals("s3a://bucket/night", c.string("nightly.output"));
    assertEquals(Path.of("m.json").toAbsolutePath().toString(), c.string("nightly.model"));
    assertEquals("", c.string("nightly.reference"));
  }

  @Test
  void dataPathsKeepUrisAndMakeLocalPathsAbsolute() {
    assertEquals("abfs://c@acct.dfs.core.windows.net/t", DataPaths.qualify("abfs://c@acct.dfs.core.windows.net/t"));
    assertEquals("file:/tmp/x", DataPaths.qualify("file:/tmp/x"));
    assertEquals("/tmp/x", DataPaths.qualify("/tmp/a/../x"));
    assertTrue(Path.of(DataPaths.qualify("joule-data/demo")).isAbsolute());
    assertEquals(null, DataPaths.qualify(null));
    assertEquals("", DataPaths.qualify(""));
  }
}
