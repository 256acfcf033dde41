package dev.joule.jobs.delta;

import static org.apache.spark.sql.functions.col;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.delta.deletionvectors.RoaringBitmapArray;
import org.junit.jupiter.api.Test;

/**
 * The driver's key scan finds the same rows, at the same positions, as Spark's Parquet reader
 * ({@code _metadata.row_index}): files of several row groups, integer and string keys, null keys
 * and scope values, and a file without the scope column; and the key index it writes of a file
 * it reads whole finds the same rows.
 */
class DriverKeyScanIT extends dev.joule.jobs.LocalSparkIT {

  @Test
  void theRowsAndPositionsSparksReaderFinds() {
    String dir = tmp.resolve("keys").toString();
    // Row groups of about 64 KiB: each file holds several, so positions run across them.
    spark.range(0, 60_000).selectExpr("IF(id % 997 = 5, NULL, id * 3) AS id", "CAST(id * 3 AS INT) AS small",
        "IF(id % 1000 = 7, NULL, concat('k', id % 20000)) AS name",
        "IF(id % 500 = 1, NULL, IF(id % 3 = 0, 'other', 'm1')) AS model_id", "repeat('x', 40) AS filler")
        .repartition(3).write().option("parquet.block.size", 65_536).parquet(dir + "/a");
    spark.range(0, 5_000).selectExpr("id * 3 AS id", "CAST(id * 3 AS INT) AS small",
        "concat('k', id) AS name").write().parquet(dir + "/b"); // no model_id column
    // Plain encoding (no dictionary), pages of 4 KiB, version 2 data pages.
    spark.range(60_000, 66_000).selectExpr("IF(id % 997 = 5, NULL, id * 3) AS id", "CAST(id * 3 AS INT) AS small",
        "concat('k', id % 20000) AS name", "IF(id % 3 = 0, 'other', 'm1') AS model_id")
        .write().option("parquet.enable.dictionary", "false").option("parquet.page.size", 4096)
        .option("parquet.writer.version", "v2").parquet(dir + "/c");
    Map<String, org.apache.hadoop.fs.Path> files = new HashMap<>();
    Map<String, DriverKeyScan.DataFile> dataFiles = new HashMap<>();
    for (String sub : List.of("a", "b", "c")) {
      for (File f : new File(dir, sub).listFiles((d, n) -> n.endsWith(".parquet"))) {
        files.put(f.toURI().toString(), new org.apache.hadoop.fs.Path(f.toURI()));
        dataFiles.put(f.toURI().toString(), new DriverKeyScan.DataFile(new org.apache.hadoop.fs.Path(f.toURI()),
            spark.read().parquet(f.toString()).count(), f.length(), f.lastModified()));
      }
    }
    int groups = 0;
    for (var f : files.values()) {
      try (var r = org.apache.parquet.hadoop.ParquetFileReader.open(
          org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(f, spark.sessionState().newHadoopConf()))) {
        groups = Math.max(groups, r.getRowGroups().size());
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
    assertTrue(groups > 1, "a file of several row groups");
    long[] longKeys = new TreeSet<>(List.of(0L, 3L, 15L, 30_003L, 44_997L, 150_000L, 179_997L, 7L, 180_003L,
        190_001L, 197_997L)).stream()
        .mapToLong(Long::longValue).sorted().toArray();
    Set<String> stringKeys = Set.of("k1", "k7", "k19999", "k4999", "nope");
    var conf = spark.sessionState().newHadoopConf();
    for (Map<String, String> scope : List.of(Map.<String, String>of(), Map.of("model_id", "m1"))) {
      for (String key : List.of("id", "small", "name")) {
        DriverKeyScan.Wanted wanted = key.equals("name") ? new DriverKeyScan.Wanted(null, stringKeys)
            : new DriverKeyScan.Wanted(longKeys, null);
        Map<String, List<Long>> driver = new TreeMap<>();
        DriverKeyScan.positions(conf, dataFiles, key, wanted, scope, true)
            .forEach((f, bits) -> driver.put(f, values(bits)));
        Map<String, List<Long>> expected = expected(files, key, wanted, scope);
        assertTrue(!expected.isEmpty(), key + " " + scope);
        assertEquals(expected, driver, "key " + key + ", scope " + scope);
      }
    }
    // Each file read whole for an integer key without a scope got a key index, which finds the
    // same rows: the last such key read was `small` (set in every row; `id` has nulls in some files).
    Map<String, List<Long>> indexed = new TreeMap<>();
    for (var f : dataFiles.entrySet()) {
      DriverKeyScan.DataFile d = f.getValue();
      long length = dev.joule.udfs.files.KeyIndex.list(conf, d.path().getParent()).get(d.path().getName());
      var index = dev.joule.udfs.files.KeyIndex.read(conf, d.path(), length, d.bytes(), d.modified(), "small",
          d.rows());
      assertTrue(index != null, "an index of " + f.getKey());
      RoaringBitmapArray bits = new RoaringBitmapArray();
      index.positionsOf(longKeys, bits::add);
      if (bits.cardinality() > 0) {
        indexed.put(f.getKey(), values(bits));
      }
    }
    assertEquals(expected(files, "small", new DriverKeyScan.Wanted(longKeys, null), Map.of()), indexed);
    // A file whose rows are not what its statistics say is refused: its positions would be wrong.
    var one = dataFiles.entrySet().iterator().next();
    var wrong = Map.of(one.getKey(), new DriverKeyScan.DataFile(one.getValue().path(), one.getValue().rows() + 1,
        one.getValue().bytes(), one.getValue().modified()));
    IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
        () -> DriverKeyScan.positions(conf, wrong, "id", new DriverKeyScan.Wanted(longKeys, null), Map.of(), false));
    assertTrue(e.getMessage().contains("statistics say"), e.getMessage());
  }

  private static List<Long> values(RoaringBitmapArray bits) {
    return Arrays.stream(bits.values()).boxed().toList();
  }

  /** What Spark's reader gives: the file and row index of each wanted row in scope. */
  private static Map<String, List<Long>> expected(Map<String, org.apache.hadoop.fs.Path> files, String key,
      DriverKeyScan.Wanted wanted, Map<String, String> scope) {
    var scan = spark.read().option("mergeSchema", "true")
        .parquet(files.values().stream().map(Object::toString).toArray(String[]::new));
    for (Map.Entry<String, String> e : scope.entrySet()) {
      scan = scan.filter(col(e.getKey()).equalTo(e.getValue()));
    }
    scan = key.equals("name") ? scan.filter(col(key).isin(wanted.strings().toArray()))
        : scan.filter(col(key).cast("long").isin(Arrays.stream(wanted.sortedLongs()).boxed().toArray()));
    Map<String, List<Long>> out = new TreeMap<>();
    for (Row r : scan.select(col("_metadata.file_path"), col("_metadata.row_index")).collectAsList()) {
      String f = new org.apache.hadoop.fs.Path(r.getString(0)).toUri().toString();
      String name = files.keySet().stream().filter(k -> new org.apache.hadoop.fs.Path(k).toUri().toString().equals(f))
          .findFirst().orElseThrow(() -> new AssertionError("not a file of the test: " + f));
      out.computeIfAbsent(name, x -> new java.util.ArrayList<>()).add(r.getLong(1));
    }
    out.replaceAll((f, l) -> l.stream().sorted().toList());
    return out;
  }
}
