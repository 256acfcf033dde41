package dev.joule.bridge.kernel;

import java.util.Arrays;

/**
 * Keeps the m best (score, index) pairs seen, best first. Ties keep the earlier index, so results
 * are deterministic. Insertion into a small sorted array: m is k or k × oversample, tens at most.
 */
final class TopSelector {
  private final int m;
  private final float[] scores;
  private final int[] indices;
  private int size;

  TopSelector(int m) {
    this.m = m;
    this.scores = new float[m];
    this.indices = new int[m];
  }

  void clear() {
    size = 0;
  }

  void offer(float score, int index) {
    if (size == m && !(score > scores[m - 1])) {
      return;
    }
    int pos = size == m ? m - 1 : size++;
    while (pos > 0 && score > scores[pos - 1]) {
      scores[pos] = scores[pos - 1];
      indices[pos] = indices[pos - 1];
      pos--;
    }
    scores[pos] = score;
    indices[pos] = index;
  }

  int size() {
    return size;
  }

  float score(int i) {
    return scores[i];
  }

  int index(int i) {
    return indices[i];
  }

  int[] indices() {
    return Arrays.copyOf(indices, size);
  }
}
