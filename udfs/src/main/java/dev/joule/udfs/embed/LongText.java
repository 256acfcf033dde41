package dev.joule.udfs.embed;

import dev.joule.encoder.EncoderModel;
import java.util.Locale;

/** What happens to a text longer than the model reads ({@link EncoderModel#MAX_TOKENS} word pieces). */
public enum LongText {
  /** Embedded from its first word pieces, as sentence-transformers does; its row keeps its full count. */
  TRUNCATE,
  /** Rejected with reason {@code text_too_long}, naming its length. */
  REJECT;

  public static LongText of(String s) {
    try {
      return valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--long-text must be truncate or reject, got '" + s + "'");
    }
  }
}
