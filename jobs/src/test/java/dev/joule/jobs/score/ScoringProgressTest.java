package dev.joule.jobs.score;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.joule.udfs.EnergyAccumulators;
import org.apache.spark.util.DoubleAccumulator;
import org.apache.spark.util.LongAccumulator;
import org.junit.jupiter.api.Test;

class ScoringProgressTest {

  @Test
  void theLineShowsTheRunningTotalsWithTheirMethod() {
    EnergyAccumulators a = new EnergyAccumulators(new LongAccumulator(), new DoubleAccumulator(), new DoubleAccumulator());
    a.rowsScored().add(5_000);
    a.estimatedJ().add(2.46);
    assertEquals("2.5 J est.", ScoringProgress.message(a));
    a.measuredJ().add(7.04);
    assertEquals("2.5 J est., 7.0 J measured", ScoringProgress.message(a));
  }
}
