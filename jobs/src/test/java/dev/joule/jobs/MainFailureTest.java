package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.model.ModelFileException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.hadoop.fs.DiskFullFileSystem;
import org.apache.spark.SparkException;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Every failure of a command is one {@code joule: error} line and an exit code from the README's table (item 6). */
class MainFailureTest {

  /** A Spark job failure as the driver sees it: the task's error as the cause, its text in the message. */
  static SparkException jobAborted(Throwable cause) {
    return new SparkException("Job aborted due to stage failure: Task 0 in stage 3.0 failed 1 times, most recent "
        + "failure: Lost task 0.0 in stage 3.0 (TID 7) (127.0.0.1 executor driver): " + cause + "\n\tat x.y(Z.java:1)",
        new SparkException("[TASK_WRITE_FAILED] Task failed while writing rows to file:/out/part-0.", cause));
  }

  @Test
  void aFullDiskIsOneLineWithTheOtherFailureCode() {
    for (Throwable t : List.of(DiskFullFileSystem.error(), jobAborted(DiskFullFileSystem.error()),
        new RuntimeException("commit failed", new UncheckedIOException(new IOException("No space left on device"))),
        new java.io.IOException("write failed", new IOException("No space left on device")))) {
      Main.Failure f = Main.failure(t);
      assertEquals(JouleException.OTHER, f.code(), t.toString());
      assertTrue(f.message().startsWith("no space left on device ("), f.message());
      assertTrue(f.message().contains("No space left on device"), f.message());
      assertFalse(f.message().contains("\n"), f.message());
      assertTrue(f.hint(), "the stack trace is in the log file");
    }
    assertEquals("no space left on device (java.io.IOException: No space left on device)",
        Main.failure(jobAborted(DiskFullFileSystem.error())).message());
  }

  @Test
  void joulesOwnErrorsKeepTheirCodeInsideAnyWrapper() {
    Main.Failure input = Main.failure(jobAborted(JouleException.input("the header of b.csv differs")));
    assertEquals(JouleException.INPUT, input.code());
    assertEquals("the header of b.csv differs", input.message());
    assertEquals(JouleException.INPUT, Main.failure(new ModelFileException("not a model")).code());
    Main.Failure other = Main.failure(new IllegalStateException("boom\nsecond line", new OutOfMemoryError("Java heap space")));
    assertEquals(JouleException.OTHER, other.code());
    assertEquals("boom (cause: OutOfMemoryError: Java heap space)", other.message());
    assertEquals("StackOverflowError", Main.failure(new StackOverflowError()).message());
  }

  @CommandLine.Command(name = "boom")
  static final class Boom implements Callable<Integer> {
    static Throwable toThrow;

    @Override
    public Integer call() throws Exception {
      if (toThrow instanceof Error e) {
        throw e;
      }
      throw (Exception) toThrow;
    }
  }

  /** An Error thrown by a command (picocli passes only Exceptions to handlers) is still one line and an exit code. */
  @Test
  void anErrorEscapingACommandIsOneLineNotAStackTrace() {
    for (Throwable t : List.of(DiskFullFileSystem.error(), new OutOfMemoryError("Java heap space"),
        jobAborted(DiskFullFileSystem.error()))) {
      CommandLine cl = Main.commandLine();
      cl.addSubcommand("boom", new Boom());
      StringWriter err = new StringWriter();
      cl.setErr(new PrintWriter(err, true));
      Boom.toThrow = t;
      int code = cl.execute("boom");
      assertEquals(JouleException.OTHER, code, err.toString());
      List<String> lines = err.toString().lines().toList();
      assertEquals(1, lines.stream().filter(l -> l.startsWith("joule: error: ")).count(), err.toString());
      assertFalse(lines.stream().anyMatch(l -> l.startsWith("\tat ") || l.startsWith("Caused by")), err.toString());
      assertTrue(lines.size() <= 2, "the error and where the detail is: " + err);
    }
  }
}
