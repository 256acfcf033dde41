package dev.joule.bridge.flight;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import org.apache.arrow.flight.CallHeaders;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.auth2.Auth2Constants;
import org.apache.arrow.flight.auth2.AuthUtilities;
import org.apache.arrow.flight.auth2.CallHeaderAuthenticator;

/**
 * Checks every call's {@code Authorization: Bearer <token>} header against the node's token, in
 * constant time. A call without it, or with another token, is refused with UNAUTHENTICATED. The
 * token is never logged nor put in an error message.
 */
final class TokenAuthenticator implements CallHeaderAuthenticator {

  private final byte[] token;

  TokenAuthenticator(String token) {
    if (token == null || token.isBlank()) {
      throw new IllegalArgumentException("the token is empty");
    }
    this.token = token.getBytes(StandardCharsets.UTF_8);
  }

  @Override
  public AuthResult authenticate(CallHeaders headers) {
    String presented = AuthUtilities.getValueFromAuthHeader(headers, Auth2Constants.BEARER_PREFIX);
    if (presented == null) {
      throw CallStatus.UNAUTHENTICATED.withDescription("this node needs a bearer token (bridge.token-file)")
          .toRuntimeException();
    }
    if (!MessageDigest.isEqual(token, presented.getBytes(StandardCharsets.UTF_8))) {
      throw CallStatus.UNAUTHENTICATED.withDescription("the bearer token was not accepted")
          .toRuntimeException();
    }
    return () -> "token-holder";
  }
}
