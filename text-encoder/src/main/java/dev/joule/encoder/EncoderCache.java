package dev.joule.encoder;

import java.util.concurrent.ConcurrentHashMap;

/**
 * One loaded encoder per model per JVM: an executor loads a model once and its tasks share it.
 * This is the one JVM-wide state of the module, because Spark gives tasks no other place that
 * outlives them; everything else is passed explicitly.
 */
public final class EncoderCache {
  private static final ConcurrentHashMap<EncoderModel, SentenceEncoder> LOADED = new ConcurrentHashMap<>();

  private EncoderCache() {}

  public static SentenceEncoder get(EncoderModel model) {
    return LOADED.computeIfAbsent(model, SentenceEncoder::load);
  }
}
