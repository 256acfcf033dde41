package dev.joule.udfs;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What a scoring task kept of the quality gate's sample ({@link GateSample}), so that the gate
 * reads neither the input nor the written predictions a second time: the sample's fp32 rows as
 * the task read them (embedding inputs only), and the answer it published for each sampled row
 * it scored ({@code published}: the label, or the neighbours' ids best first).
 */
public record SampledRows(List<Object> ids, List<float[]> rows, Map<Object, Object> published)
    implements Serializable {

  public static SampledRows empty() {
    return new SampledRows(new ArrayList<>(), new ArrayList<>(), new HashMap<>());
  }

  void add(Object id, float[] values, int from, int dim) {
    ids.add(id);
    rows.add(java.util.Arrays.copyOfRange(values, from, from + dim));
  }

  /** The label a class kernel published for {@code id}. */
  void publishLabel(Object id, String label) {
    published.put(id, label);
  }

  /** The neighbours' ids, best first, a top-k kernel published for {@code id}. */
  void publishNeighbours(Object id, List<String> neighbours) {
    published.put(id, neighbours);
  }

  /** Adds {@code other}'s rows and answers to these (the driver gathering the tasks' outputs). */
  public void addAll(SampledRows other) {
    ids.addAll(other.ids);
    rows.addAll(other.rows);
    published.putAll(other.published);
  }

  public int size() {
    return ids.size();
  }
}
