package dev.joule.testing;

/** How many CPUs a test's JVM may really run on, for tests that load the machine or bound its power. */
public final class HostCpus {

  private HostCpus() {}

  /**
   * The larger of {@code availableProcessors()} and the host's online CPUs: a cgroup's quota can
   * make the first smaller than the CPUs the JVM's threads actually run on.
   */
  public static int atMost() {
    return Math.max(Runtime.getRuntime().availableProcessors(), online());
  }

  /** The processors {@code /proc/cpuinfo} lists, or 0 where it cannot be read. */
  static int online() {
    try {
      return (int) java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/cpuinfo")).stream()
          .filter(l -> l.startsWith("processor")).count();
    } catch (java.io.IOException | RuntimeException e) {
      return 0;
    }
  }
}
