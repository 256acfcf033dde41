package dev.joule.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;

/**
 * The processes this JVM starts while an action runs, as JFR's {@code jdk.ProcessStart} events
 * record them (every {@code ProcessBuilder.start}, Hadoop's shell commands included). Shared
 * through this module's test jar.
 */
public final class ProcessStarts {

  /** An action that may throw. */
  public interface Action {
    void run() throws Exception;
  }

  private ProcessStarts() {}

  /** The command lines of the processes started while {@code action} ran; {@code dir} holds the recording. */
  public static List<String> during(Path dir, Action action) throws Exception {
    Path dump = Files.createTempFile(dir, "processes", ".jfr");
    try (Recording r = new Recording()) {
      r.enable("jdk.ProcessStart");
      r.start();
      action.run();
      r.stop();
      r.dump(dump);
    }
    List<String> commands = new ArrayList<>();
    for (RecordedEvent e : RecordingFile.readAllEvents(dump)) {
      commands.add(e.getString("command"));
    }
    Files.delete(dump);
    return commands;
  }
}
