package dev.joule.bridge.vector;

import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Picks the {@link VectorOps} implementation once per JVM, the way Lucene's
 * {@code VectorizationProvider} does: the Vector API one when the incubator module is present and
 * the hardware is wide enough, the scalar reference otherwise, always logging why.
 *
 * <p>System property {@value #PROPERTY} = {@code scalar} | {@code panama} | {@code auto} (default)
 * forces a choice; forcing {@code panama} where it cannot load is an error, not a silent fallback.
 */
public final class VectorOpsProvider {

  public static final String PROPERTY = "joule.vectorization";

  private static final Logger LOG = LoggerFactory.getLogger(VectorOpsProvider.class);
  private static volatile VectorOps instance;

  private VectorOpsProvider() {}

  /** The implementation for this JVM. */
  public static VectorOps get() {
    VectorOps ops = instance;
    if (ops == null) {
      synchronized (VectorOpsProvider.class) {
        ops = instance;
        if (ops == null) {
          ops = choose(System.getProperty(PROPERTY, "auto"));
          instance = ops;
        }
      }
    }
    return ops;
  }

  /** The Vector API implementation, or null with the reason logged; for tests and benchmarks. */
  public static VectorOps panamaOrNull() {
    try {
      return loadPanama();
    } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
      LOG.info("Vector API implementation unavailable: {}", reason(e));
      return null;
    }
  }

  static VectorOps choose(String mode) {
    switch (mode.toLowerCase(Locale.ROOT)) {
      case "scalar":
        LOG.info("vectorization: scalar (forced by -D{}=scalar)", PROPERTY);
        return ScalarVectorOps.INSTANCE;
      case "panama":
        try {
          VectorOps ops = loadPanama();
          LOG.info("vectorization: {} (forced by -D{}=panama)", ops.name(), PROPERTY);
          return ops;
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
          throw new IllegalStateException(
              "-D" + PROPERTY + "=panama but the Vector API cannot be used: " + reason(e), e);
        }
      case "auto":
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
          LOG.warn("vectorization: scalar, because module jdk.incubator.vector is not loaded "
              + "(start the JVM with --add-modules=jdk.incubator.vector)");
          return ScalarVectorOps.INSTANCE;
        }
        try {
          VectorOps ops = loadPanama();
          LOG.info("vectorization: {} (jdk.incubator.vector present)", ops.name());
          return ops;
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
          LOG.warn("vectorization: scalar, because the Vector API implementation failed to load: {}",
              reason(e));
          return ScalarVectorOps.INSTANCE;
        }
      default:
        throw new IllegalArgumentException(
            "-D" + PROPERTY + "=" + mode + " is not one of scalar, panama, auto");
    }
  }

  private static VectorOps loadPanama() throws ReflectiveOperationException {
    Class<?> cls = Class.forName("dev.joule.bridge.vector.PanamaVectorOps");
    var ctor = cls.getDeclaredConstructor();
    ctor.setAccessible(true);
    try {
      return (VectorOps) ctor.newInstance();
    } catch (java.lang.reflect.InvocationTargetException e) {
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException re) {
        throw re;
      }
      if (cause instanceof Error err) {
        throw err;
      }
      throw e;
    }
  }

  private static String reason(Throwable e) {
    return e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
  }
}
