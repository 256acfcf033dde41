package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * Where a real-data test finds its data: the path in an environment variable, else a file under
 * ~/.cache/joule. Missing data skips the test, unless JOULE_REQUIRE_REAL_DATA=1 (CI), which fails it.
 */
final class RealData {
  private RealData() {}

  /**
   * @param env the variable that names the file
   * @param cached the file's name under ~/.cache/joule
   * @param make the command that makes it, for the message
   */
  static Path file(String env, String cached, String make) {
    String given = System.getenv(env);
    Path p = given != null && !given.isBlank() ? Path.of(given)
        : Path.of(System.getProperty("user.home"), ".cache", "joule", cached);
    if (!Files.isRegularFile(p)) {
      if ("1".equals(System.getenv("JOULE_REQUIRE_REAL_DATA"))) {
        fail("JOULE_REQUIRE_REAL_DATA=1 but no data at " + p + " (run " + make + ")");
      }
      Assumptions.abort("no data at " + p + ": run " + make);
    }
    return p;
  }
}
