package dev.joule.udfs;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * The fp32 rows of the quality gate's sample ({@link GateSample}) that a scoring task kept as it
 * read them, so the gate never reads the input a second time.
 */
public record SampledRows(List<Object> ids, List<float[]> rows) implements Serializable {

  public static SampledRows empty() {
    return new SampledRows(new ArrayList<>(), new ArrayList<>());
  }

  void add(Object id, float[] values, int from, int dim) {
    ids.add(id);
    rows.add(java.util.Arrays.copyOfRange(values, from, from + dim));
  }

  /** Adds {@code other}'s rows to these (the driver gathering the tasks' rows). */
  public void addAll(SampledRows other) {
    ids.addAll(other.ids);
    rows.addAll(other.rows);
  }

  public int size() {
    return ids.size();
  }
}
