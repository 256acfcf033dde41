package dev.joule.jobs.score;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.joule.udfs.EnergyAccumulators;
import org.apache.spark.util.DoubleAccumulator;
import org.apache.spark.util.LongAccumulator;
import org.junit.jupiter.api.Test;

class ScoringProgressTest {

  @Test
  void noBarWhenOffOrWhenStdoutIsNotATerminal() {
    // Under the test runner there is no console: auto must stay quiet (no Spark session needed).
    Progress auto = ScoringProgress.start(null, "auto", 4, null);
    Progress off = ScoringProgress.start(null, "off", 4, null);
    assertFalse(auto instanceof ScoringProgress);
    assertFalse(off instanceof ScoringProgress);
    auto.close();
    off.close();
  }

  @Test
  void theLineShowsTheRunningTotalsWithTheirMethod() {
    EnergyAccumulators a = new EnergyAccumulators(new LongAccumulator(), new DoubleAccumulator(), new DoubleAccumulator());
    a.rowsScored().add(5_000);
    a.estimatedJ().add(2.46);
    assertEquals("2,500 rows/s, 2.5 J est.", ScoringProgress.message(a, 2.0));
    a.measuredJ().add(7.04);
    assertEquals("2,500 rows/s, 2.5 J est., 7.0 J measured", ScoringProgress.message(a, 2.0));
  }
}
