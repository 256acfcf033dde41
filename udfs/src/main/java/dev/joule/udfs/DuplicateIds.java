package dev.joule.udfs;

import java.io.Serializable;
import java.util.Map;

/**
 * The ids found on more than one row of one input, with their row counts. Every row of such an id
 * is rejected ({@code duplicate_id}): which copy the user meant cannot be told, and scoring them
 * all would give one id two predictions. Keys are ids as {@link IdColumn#read} returns them.
 */
public record DuplicateIds(Map<Object, Long> rowsPerId) implements Serializable {

  public static final DuplicateIds NONE = new DuplicateIds(Map.of());

  public DuplicateIds {
    rowsPerId = Map.copyOf(rowsPerId);
  }

  public boolean isEmpty() {
    return rowsPerId.isEmpty();
  }

  public int size() {
    return rowsPerId.size();
  }

  /** The reject reason for a row with this id, or null when the id is on one row only. */
  public String reason(Object id) {
    Long n = id == null ? null : rowsPerId.get(id);
    return n == null ? null : "duplicate_id: id " + id + " is on " + n + " rows of the input; none of them is scored";
  }
}
