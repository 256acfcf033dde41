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

  /** These rows and {@code other}'s, in a new value. */
  public SampledRows plus(SampledRows other) {
    List<Object> i = new ArrayList<>(ids);
    List<float[]> r = new ArrayList<>(rows);
    i.addAll(other.ids);
    r.addAll(other.rows);
    return new SampledRows(i, r);
  }

  public int size() {
    return ids.size();
  }
}
