package dev.joule.jobs.score;

import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.joule.bridge.energy.PowerProfile;
import java.util.List;
import org.junit.jupiter.api.Test;

class ScoringProgressTest {

  static final List<PowerProfile> PROFILES = List.of(new PowerProfile("g", "", true, 1, 2, 3, 0.4, "t"));

  @Test
  void noBarWhenOffOrWhenStdoutIsNotATerminal() {
    // Under the test runner there is no console: auto must stay quiet (no Spark session needed).
    Progress auto = ScoringProgress.start(null, "auto", 4, PROFILES);
    Progress off = ScoringProgress.start(null, "off", 4, PROFILES);
    assertFalse(auto instanceof ScoringProgress);
    assertFalse(off instanceof ScoringProgress);
    auto.close();
    off.close();
  }
}
