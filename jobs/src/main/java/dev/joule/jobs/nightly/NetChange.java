package dev.joule.jobs.nightly;

import java.io.Serializable;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * The net change of each id over a range of a change data feed, from the changes' keys alone:
 * its last version wins, and within that version a row written wins over a delete (a commit that
 * rewrites files deletes an id's old row and inserts its new one). Every change row of the winning
 * version and kind is kept, so two rows inserted for one id in its last version are both kept, and
 * the id census rejects them both rather than picking one.
 *
 * <p>Holds one entry per changed id: built on the driver for changes counted below
 * {@code score.driver-census-rows}; larger ranges take a window over the feed instead.
 */
final class NetChange {

  /** The winning change of an id: its version, and whether it deletes the id. */
  record Winner(long version, boolean delete) implements Serializable {}

  private final Map<Object, Winner> winners = new HashMap<>();
  private final Map<Object, Long> rowsAtWinner = new HashMap<>();
  /** Rows written without an id: not one id, so each is kept (the scoring pass rejects it). */
  private long nullIdRows;

  /** Adds one change row: its id (null allowed), commit version, and whether it is a delete. */
  void add(Object id, long version, boolean delete) {
    if (id == null) {
      nullIdRows += delete ? 0 : 1;
      return;
    }
    Winner w = winners.get(id);
    Winner mine = new Winner(version, delete);
    if (w == null || beats(mine, w)) {
      winners.put(id, mine);
      rowsAtWinner.put(id, 1L);
    } else if (w.equals(mine)) {
      rowsAtWinner.merge(id, 1L, Long::sum);
    }
  }

  private static boolean beats(Winner a, Winner b) {
    return a.version() != b.version() ? a.version() > b.version() : !a.delete() && b.delete();
  }

  /** Each id's winning change: a change row is kept when it is its id's winner. */
  Map<Object, Winner> winners() {
    return winners;
  }

  /** Whether a change row is one its id's net change keeps (every written row without an id). */
  static boolean keeps(Map<Object, Winner> winners, Object id, long version, boolean delete) {
    if (id == null) {
      return !delete;
    }
    Winner w = winners.get(id);
    return w != null && w.version() == version && w.delete() == delete;
  }

  /** Rows kept that are not deletes (null ids included): the rows the night scores. */
  long rows() {
    long n = nullIdRows;
    for (Map.Entry<Object, Winner> e : winners.entrySet()) {
      if (!e.getValue().delete()) {
        n += rowsAtWinner.get(e.getKey());
      }
    }
    return n;
  }

  /** Ids whose net change writes more than one row, with their rows. */
  Map<Object, Long> repeated() {
    Map<Object, Long> out = new HashMap<>();
    for (Map.Entry<Object, Winner> e : winners.entrySet()) {
      long n = rowsAtWinner.get(e.getKey());
      if (!e.getValue().delete() && n > 1) {
        out.put(e.getKey(), n);
      }
    }
    return out;
  }

  /** Ids whose net change deletes them. */
  Set<Object> deleted() {
    Set<Object> out = new HashSet<>();
    for (Map.Entry<Object, Winner> e : winners.entrySet()) {
      if (e.getValue().delete()) {
        out.add(e.getKey());
      }
    }
    return out;
  }
}
