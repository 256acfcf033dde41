package dev.joule.jobs.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class JouleSparkTest {

  @Test
  void localCoresOfEachMasterForm() {
    assertEquals(1, JouleSpark.localCores("local"));
    assertEquals(2, JouleSpark.localCores("local[2]"));
    assertEquals(3, JouleSpark.localCores("local[3,4]"));
    assertEquals(Runtime.getRuntime().availableProcessors(), JouleSpark.localCores("local[*]"));
    assertEquals(0, JouleSpark.localCores("spark://127.0.0.1:7077"));
    assertEquals(0, JouleSpark.localCores("yarn"));
    assertEquals(0, JouleSpark.localCores("local-cluster[2,1,1024]"));
  }
}
