package dev.joule.jobs;

import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Keeps the fast path fast: a unit test class ({@code *Test}, run by {@code mvn test}) with a Spark
 * session alive after any of its tests (before its own {@code @AfterAll} could stop it) or after
 * the class fails, and says to name it {@code *IT}. Registered for every test class
 * through JUnit's extension auto-detection (src/test/resources).
 */
public final class UnitTestsStartNoSpark implements AfterEachCallback, AfterAllCallback {

  @Override
  public void afterEach(ExtensionContext context) {
    afterAll(context);
  }

  @Override
  public void afterAll(ExtensionContext context) {
    String name = context.getRequiredTestClass().getSimpleName();
    if (name.endsWith("Test")
        && (SparkSession.getDefaultSession().isDefined() || SparkSession.getActiveSession().isDefined())) {
      throw new AssertionError(name + " started a Spark session: unit tests (*Test) must not; "
          + "name it *IT so it runs with the integration tests");
    }
  }
}
