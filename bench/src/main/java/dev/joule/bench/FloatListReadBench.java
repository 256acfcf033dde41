package dev.joule.bench;

import dev.joule.jobs.delta.DriverParquetRows;
import dev.joule.jobs.delta.DriverParquetRows.FloatLists;
import java.io.File;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * The driver's read of float-list Parquet files (a night's changed embeddings, the quality
 * gate's kept rows): parquet-mr's per-value column reader against the page decoder
 * ({@code FloatListPages}), on files Spark wrote with its defaults (snappy, dictionary tried
 * first). Both read the same files in one JVM, in turn, after a warm-up round of each; thread
 * CPU per row, and the ratio.
 *
 * <p>Usage: {@code FloatListReadBench [--rows N] [--dim D] [--files F] [--rounds R]}.
 */
public final class FloatListReadBench {

  private FloatListReadBench() {}

  public static void main(String[] args) throws Exception {
    int rows = 100_000;
    int dim = 384;
    int files = 5;
    int rounds = 3;
    for (int i = 0; i < args.length; i += 2) {
      switch (args[i]) {
        case "--rows" -> rows = Integer.parseInt(args[i + 1]);
        case "--dim" -> dim = Integer.parseInt(args[i + 1]);
        case "--files" -> files = Integer.parseInt(args[i + 1]);
        case "--rounds" -> rounds = Integer.parseInt(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    Path dir = Path.of("bench/target/float-list-read").toAbsolutePath();
    deleteTree(dir);
    SparkSession spark = SparkSession.builder().master("local[2]").appName("float-list-read")
        .config("spark.ui.enabled", "false").getOrCreate();
    try {
      spark.range(rows).selectExpr("id", "transform(sequence(1, " + dim + "), x -> cast(randn(7) as float)) AS embedding")
          .repartition(files).write().parquet(dir.toString());
    } finally {
      spark.stop();
    }
    List<org.apache.hadoop.fs.Path> parts = new ArrayList<>();
    try (Stream<Path> s = Files.list(dir)) {
      s.filter(p -> p.getFileName().toString().endsWith(".parquet")).sorted()
          .forEach(p -> parts.add(new org.apache.hadoop.fs.Path(p.toUri())));
    }
    Configuration conf = new Configuration();
    StructType schema = new StructType().add("id", DataTypes.LongType)
        .add("embedding", DataTypes.createArrayType(DataTypes.FloatType));
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    double[][] ns = new double[2][rounds];
    FloatLists[] ways = {FloatLists.PER_VALUE, FloatLists.PAGES};
    long checksum0 = 0;
    for (int round = -1; round < rounds; round++) { // round -1: warm-up of both
      for (int w = 0; w < ways.length; w++) {
        FloatLists way = round % 2 == 0 ? ways[w] : ways[1 - w]; // alternate which goes first
        long t = threads.getCurrentThreadCpuTime();
        long n = 0;
        long checksum = 0;
        for (org.apache.hadoop.fs.Path p : parts) {
          for (Object[] row : DriverParquetRows.read(conf, p, schema, way)) {
            float[] v = (float[]) ((scala.collection.immutable.ArraySeq<?>) row[1]).unsafeArray();
            checksum += Float.floatToRawIntBits(v[v.length - 1]) + (Long) row[0];
            n++;
          }
        }
        long spent = threads.getCurrentThreadCpuTime() - t;
        if (round >= 0) {
          ns[way.ordinal() == FloatLists.PAGES.ordinal() ? 1 : 0][round] = (double) spent / n;
        }
        if (checksum0 == 0) {
          checksum0 = checksum;
        } else if (checksum != checksum0) {
          throw new IllegalStateException("the two reads differ: checksum " + checksum + " against " + checksum0);
        }
      }
    }
    System.out.printf(Locale.ROOT, "%,d rows x %d floats in %d files Spark wrote (snappy, dictionary tried first); "
        + "thread CPU per row, %d rounds after a warm-up:%n%n", rows, dim, parts.size(), rounds);
    System.out.println("| round | parquet-mr per value, µs a row | pages, µs a row | pages / per value |");
    System.out.println("| --- | --- | --- | --- |");
    for (int r = 0; r < rounds; r++) {
      System.out.printf(Locale.ROOT, "| %d | %.2f | %.2f | %.2f |%n", r + 1, ns[0][r] / 1e3, ns[1][r] / 1e3,
          ns[1][r] / ns[0][r]);
    }
    deleteTree(dir);
  }

  private static void deleteTree(Path dir) throws Exception {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(java.util.Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
    }
  }
}
