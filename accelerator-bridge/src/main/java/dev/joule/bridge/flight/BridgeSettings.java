package dev.joule.bridge.flight;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * How executors reach Flight accelerator nodes; travels to every task in the scoring closure.
 * The token and the trusted certificate travel as values (not file paths), so an executor needs
 * no files of its own; {@link #toString()} never shows the token.
 *
 * @param nodes {@code host:port} of every node
 * @param fallback what a partition does when every node has failed it
 * @param token bearer token, or null when the nodes need none
 * @param tls speak TLS to the nodes
 * @param trustedCertPem PEM certificates to trust (e.g. a self-signed node's); null: the JVM's
 * @param streamTimeoutMs deadline of one partition's scoring stream
 * @param actionTimeoutMs deadline of a health check or a kernel push
 * @param window batches a partition keeps in flight on its stream
 * @param backoffMs first wait before trying the next node; doubles per failure, at most 5 s
 * @param cooldownMs how long a node that failed is kept out before it is checked again
 */
public record BridgeSettings(List<String> nodes, Fallback fallback, String token, boolean tls,
    byte[] trustedCertPem, long streamTimeoutMs, long actionTimeoutMs, int window, long backoffMs,
    long cooldownMs) implements Serializable {

  /** What a partition does when no node can score it. */
  public enum Fallback {
    /** Score the rest in the executor's own JVM; the run record says so. */
    IN_PROCESS("in-process"),
    /** Fail the task (and, once Spark's retries are spent, the run, which commits nothing). */
    FAIL("fail");

    private final String label;

    Fallback(String label) {
      this.label = label;
    }

    public String label() {
      return label;
    }

    public static Fallback parse(String s) {
      for (Fallback f : values()) {
        if (f.label.equalsIgnoreCase(s.trim())) {
          return f;
        }
      }
      throw new IllegalArgumentException("bridge.fallback must be in-process or fail, got '" + s + "'");
    }
  }

  public BridgeSettings {
    nodes = List.copyOf(nodes);
    if (nodes.isEmpty()) {
      throw new IllegalArgumentException("bridge.nodes is empty");
    }
    for (String n : nodes) {
      parseAddress(n);
    }
    if (window < 1 || streamTimeoutMs < 1 || actionTimeoutMs < 1 || backoffMs < 0 || cooldownMs < 0) {
      throw new IllegalArgumentException("bridge window and timeouts must be positive");
    }
  }

  /** Two nodes' defaults: 30 min per stream, 60 s per action, 2 batches in flight. */
  public static BridgeSettings of(List<String> nodes, Fallback fallback) {
    return new BridgeSettings(nodes, fallback, null, false, null, 30 * 60_000L, 60_000L, 2, 100, 30_000);
  }

  public BridgeSettings withToken(String t) {
    return new BridgeSettings(nodes, fallback, t, tls, trustedCertPem, streamTimeoutMs, actionTimeoutMs,
        window, backoffMs, cooldownMs);
  }

  public BridgeSettings withTls(byte[] trustedPem) {
    return new BridgeSettings(nodes, fallback, token, true, trustedPem, streamTimeoutMs, actionTimeoutMs,
        window, backoffMs, cooldownMs);
  }

  public BridgeSettings withTimeouts(long streamMs, long actionMs, long backoff, long cooldown) {
    return new BridgeSettings(nodes, fallback, token, tls, trustedCertPem, streamMs, actionMs, window,
        backoff, cooldown);
  }

  /** {@code host:port} → host and port; IPv6 hosts in brackets. */
  public static java.util.Map.Entry<String, Integer> parseAddress(String address) {
    int colon = address.lastIndexOf(':');
    if (colon <= 0 || colon == address.length() - 1) {
      throw new IllegalArgumentException("bridge node '" + address + "' is not host:port");
    }
    String host = address.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port;
    try {
      port = Integer.parseInt(address.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("bridge node '" + address + "' has no numeric port");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("bridge node '" + address + "': port out of range");
    }
    return java.util.Map.entry(host, port);
  }

  /** Identifies equal settings (one shared transport per JVM for each), without the secret. */
  String cacheKey() {
    return String.join(",", nodes) + "|" + fallback + "|" + tls + "|" + digest(token == null ? null
        : token.getBytes(StandardCharsets.UTF_8)) + "|" + digest(trustedCertPem) + "|" + streamTimeoutMs
        + "|" + actionTimeoutMs + "|" + window + "|" + backoffMs + "|" + cooldownMs;
  }

  private static String digest(byte[] b) {
    if (b == null) {
      return "-";
    }
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof BridgeSettings b && b.cacheKey().equals(cacheKey());
  }

  @Override
  public int hashCode() {
    return cacheKey().hashCode();
  }

  @Override
  public String toString() {
    return "flight nodes " + nodes + (tls ? " over TLS" : "") + (token != null ? " with a token" : "")
        + ", fallback " + fallback.label();
  }
}
