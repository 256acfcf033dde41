package dev.joule.jobs.console;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.config.JouleSpark;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The progress counts rows from Spark's own task metrics, per phase. */
class ConsoleProgressIT {

  @TempDir Path tmp;

  @Test
  void rowsComeFromSparkTasksAndEachPhaseCountsItsOwn() throws Exception {
    SparkSession spark = JouleSpark.session(JouleConfig.load(null, List.of("spark.master=local[2]", "spark.ui=false",
        "spark.conf.\"spark.sql.warehouse.dir\"=\"" + tmp.resolve("warehouse") + "\"")), "joule-progress-test");
    List<String> lines = new ArrayList<>();
    PrintStream sink = new PrintStream(new ByteArrayOutputStream(), true);
    try {
      ConsoleProgress p = ConsoleProgress.start(new ConsoleProgress("test", ConsoleProgress.Mode.LINES, sink, sink,
          System::nanoTime, 80, lines::add, 0), "starting");
      try {
        p.attach(spark);
        ConsoleProgress.phase("writing", 10_000);
        spark.range(0, 10_000, 1, 4).selectExpr("id", "id * 2 as x").write().parquet(tmp.resolve("a").toString());
        spark.sparkContext().listenerBus().waitUntilEmpty(30_000);
        assertEquals(10_000, p.rowsNow(), "rows written by the phase's tasks");
        ConsoleProgress.phase("copying", -1);
        spark.read().parquet(tmp.resolve("a").toString()).filter("x % 4 = 0").write().parquet(tmp.resolve("b").toString());
        spark.sparkContext().listenerBus().waitUntilEmpty(30_000);
        assertEquals(10_000, p.rowsNow(), "rows read by this phase's tasks only, the last phase's not added");
      } finally {
        p.close();
      }
    } finally {
      spark.stop();
    }
    assertEquals(3, lines.size(), lines.toString());
    assertTrue(lines.get(1).startsWith("writing: 10,000 rows in "), lines.toString());
    assertTrue(lines.get(2).startsWith("copying: 10,000 rows in "), lines.toString());
  }
}
