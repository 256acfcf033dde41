package dev.joule.bridge.flight;

import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * Tells whether a port answers a TLS handshake. Used only to explain a failure: a plain gRPC
 * client talking to a TLS node sees the connection close "for unknown reason". The handshake
 * trusts any certificate because nothing is sent over it; it only asks "is this TLS?".
 */
final class TlsProbe {

  private TlsProbe() {}

  static boolean speaksTls(String host, int port, int timeoutMs) {
    try {
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(null, new TrustManager[] {new X509TrustManager() {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public X509Certificate[] getAcceptedIssuers() {
          return new X509Certificate[0];
        }
      }}, new SecureRandom());
      try (java.net.Socket raw = new java.net.Socket()) {
        raw.connect(new InetSocketAddress(host, port), timeoutMs);
        raw.setSoTimeout(timeoutMs);
        try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(raw, host, port, false)) {
          s.setEnabledProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
          s.startHandshake();
          return true;
        }
      }
    } catch (Exception e) {
      return false;
    }
  }
}
