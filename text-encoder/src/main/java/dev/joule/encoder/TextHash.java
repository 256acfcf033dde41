package dev.joule.encoder;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The hash an embeddings row keeps of the text it was made from: a night re-embeds a row only
 * when its text's hash (or the model) changed. SHA-256 of the UTF-8 bytes, the first 128 bits as
 * lowercase hex.
 */
public final class TextHash {
  private TextHash() {}

  public static String of(String text) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(d, 0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }
}
