package dev.joule.udfs.embed;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class PartitionEmbedderTest {
  @Test
  void bytesReadCountsUtf8AsJavaEncodesIt() {
    for (String s : List.of("", "abc", "déjà vu", "日本語", "emoji \uD83D\uDE00 end", "lone \uD800 surrogate")) {
      assertEquals(s.getBytes(StandardCharsets.UTF_8).length, PartitionEmbedder.utf8Bytes(s), s);
    }
    assertEquals(0, PartitionEmbedder.utf8Bytes(null));
  }
}
