/* Run by the "Java (Joule)" kernel when it starts (RJK_INIT_SCRIPT, set by install-kernel.sh).
   The kernel joins this file's lines without line breaks and evaluates them as one snippet:
   so block comments only, and a single statement (a block).

   The kernel reads its logging configuration, which sets java.util.logging to FINEST, after
   running this script. Once Spark bridges JUL to SLF4J, Janino's FINER tracing then runs
   inside Spark's code generation and fails there (a StringIndexOutOfBoundsException formatting
   Janino's own log message), so every query that generates code fails. Keep the JUL root at
   INFO now and each time a configuration is read. NotebooksIT runs this file first, under the
   same FINEST setting. */
{
  Runnable joulePlainJulLevel = () -> java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.INFO);
  joulePlainJulLevel.run();
  java.util.logging.LogManager.getLogManager().addConfigurationListener(joulePlainJulLevel);
}
