package dev.joule.jobs.console;

import java.lang.management.ManagementFactory;
import javax.management.ObjectName;

/**
 * Writes the JVM's class-data archive after a command that succeeded, when {@code bin/joule}
 * asks for one ({@code -Djoule.cds.write=FILE} with {@code -XX:+RecordDynamicDumpInfo}): the
 * classes loaded so far, for later commands to map instead of loading them again. Done through
 * the JVM's own {@code VM.cds dynamic_dump} diagnostic command, so that a command that failed
 * (perhaps before loading much) never pays for writing an archive.
 */
public final class ClassDataArchive {

  /** System property naming the file to write. */
  public static final String PROPERTY = "joule.cds.write";

  private ClassDataArchive() {}

  /** Writes the archive when asked and {@code exitCode} is 0; never throws (an archive is an optimisation). */
  public static void writeIfAsked(int exitCode) {
    String file = System.getProperty(PROPERTY);
    if (file == null || file.isBlank() || exitCode != 0) {
      return;
    }
    org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ClassDataArchive.class);
    // The JDK's dump prints "Dynamic dump to file ..." on System.out, where the card and other
    // results go: held back, and said once in the log instead.
    java.io.PrintStream stdout = System.out;
    System.setOut(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
    try {
      ManagementFactory.getPlatformMBeanServer().invoke(new ObjectName("com.sun.management:type=DiagnosticCommand"),
          "vmCds", new Object[] {new String[] {"dynamic_dump", file}}, new String[] {String[].class.getName()});
      log.info("wrote the class-data archive that later commands start from (once per build and JVM options)");
    } catch (Exception | LinkageError e) {
      log.info("no class-data archive written: {}", e.toString());
    } finally {
      System.setOut(stdout);
    }
  }
}
