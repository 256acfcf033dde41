package dev.joule.jobs.nightly;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Each id's net change over a range of change rows, from their keys alone. */
class NetChangeTest {

  @Test
  void theLastVersionWinsAndWithinItARowWrittenBeatsADelete() {
    NetChange n = new NetChange();
    n.add(11L, 2, false); // updated, then deleted: deleted
    n.add(11L, 3, true);
    n.add(12L, 3, true); // deleted, then inserted again: scored from version 5
    n.add(12L, 5, false);
    n.add(13L, 4, false); // an overwrite: delete and insert in one version: scored
    n.add(13L, 4, true);
    n.add(14L, 6, true); // the order rows arrive in does not matter
    n.add(14L, 7, false);
    n.add(14L, 6, false);
    assertEquals(Set.of(11L), n.deleted());
    assertEquals(3, n.rows());
    assertEquals(Map.of(), n.repeated());
    Map<Object, NetChange.Winner> w = n.winners();
    assertTrue(NetChange.keeps(w, 11L, 3, true));
    assertFalse(NetChange.keeps(w, 11L, 2, false));
    assertTrue(NetChange.keeps(w, 12L, 5, false));
    assertFalse(NetChange.keeps(w, 12L, 3, true));
    assertTrue(NetChange.keeps(w, 13L, 4, false));
    assertFalse(NetChange.keeps(w, 13L, 4, true), "the overwrite's delete row is not kept");
    assertTrue(NetChange.keeps(w, 14L, 7, false));
    assertFalse(NetChange.keeps(w, 14L, 6, false));
    assertFalse(NetChange.keeps(w, 99L, 7, false), "an id not in the range");
  }

  @Test
  void rowsOfOneIdInItsLastVersionAreAllKeptAndCountedAsRepeated() {
    NetChange n = new NetChange();
    n.add("a", 1, false);
    n.add("a", 2, false);
    n.add("a", 2, false);
    n.add("b", 2, true);
    n.add("b", 2, true); // a delete repeated is one deleted id, no row
    n.add(null, 1, false); // rows without an id are not one id: each written one is kept (and rejected)
    n.add(null, 1, false);
    n.add(null, 2, true);
    assertEquals(Map.of("a", 2L), n.repeated());
    assertEquals(Set.of("b"), n.deleted());
    assertEquals(4, n.rows(), "a's two rows of version 2 and the two written rows without an id");
    assertTrue(NetChange.keeps(n.winners(), null, 1, false));
    assertFalse(NetChange.keeps(n.winners(), null, 2, true));
    assertTrue(NetChange.keeps(n.winners(), "a", 2, false));
    assertFalse(NetChange.keeps(n.winners(), "a", 1, false));
  }
}
