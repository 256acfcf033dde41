package dev.joule.jobs;

import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.config.JouleSpark;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.SparkSession;

/** One local[2] session per test class, with its warehouse under the class's temp folder. */
public final class TestSpark {

  private TestSpark() {}

  public static JouleConfig config(Path tmp, String... extra) {
    List<String> sets = new ArrayList<>(List.of("spark.master=local[2]", "spark.ui=false",
        "spark.shuffle-partitions=2",
        "spark.conf.\"spark.sql.warehouse.dir\"=\"" + tmp.resolve("warehouse") + "\"",
        "score.batch-rows=512"));
    sets.addAll(List.of(extra));
    return JouleConfig.load(null, sets);
  }

  public static SparkSession start(Path tmp) {
    return JouleSpark.session(config(tmp), "joule-test");
  }
}
