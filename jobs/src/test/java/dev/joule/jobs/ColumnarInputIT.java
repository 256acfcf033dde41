package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.quantize.QuantizeJob;
import dev.joule.jobs.score.Scoring;
import dev.joule.udfs.StagedRows;
import dev.joule.udfs.files.RunColumns;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A scoring pass that reads the scan's columnar batches writes exactly what one reading Spark's
 * rows writes: the same predictions, bit for bit, and the same rejects with the same reasons, on
 * both embedding layouts and on a codes table, across columnar batches (5,000 rows, 4,096 a batch)
 * and scoring batches (512 rows) that do not line up.
 */
class ColumnarInputIT {

  static final int ROWS = 5000;
  static final int DIM = 16;

  @org.junit.jupiter.api.io.TempDir static Path tmp;
  static SparkSession spark;
  static ModelSpec model;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  /** Generated rows in this layout, with the bad rows a user's table may hold and a passthrough column. */
  static String input(String layout, String name) {
    GenerateJob.Output g = new GenerateJob(spark).run(new GenerateJob.Request(ROWS, DIM, 3,
        tmp.resolve("gen-" + name).toString(), layout, 5, 0.3));
    model = LinearModelFile.readAny(g.model());
    Dataset<Row> good = spark.read().format("delta").load(g.embeddings())
        .selectExpr("id", "embedding", "concat('note-', id) AS note");
    StructType schema = good.schema();
    List<Row> badRows;
    if (layout.equals("array")) {
      float[] nan = new float[DIM];
      nan[3] = Float.NaN;
      Float[] withNull = new Float[DIM];
      java.util.Arrays.fill(withNull, 1f);
      withNull[7] = null;
      badRows = List.of(RowFactory.create(null, new float[DIM], "null id"),
          RowFactory.create(90001L, null, "null embedding"),
          RowFactory.create(90002L, new float[] {1, 2, 3}, "wrong dim"),
          RowFactory.create(90003L, nan, "nan"),
          RowFactory.create(90004L, withNull, null));
      schema = new StructType().add("id", DataTypes.LongType, true)
          .add("embedding", DataTypes.createArrayType(DataTypes.FloatType, true), true)
          .add("note", DataTypes.StringType, true);
    } else {
      badRows = List.of(RowFactory.create(90001L, null, "null embedding"),
          RowFactory.create(90002L, new byte[] {1, 2, 3, 4}, "wrong dim"));
    }
    String path = tmp.resolve("input-" + name).toString();
    good.union(spark.createDataFrame(badRows, schema)).repartition(3).write().format("delta").save(path);
    return path;
  }

  @ParameterizedTest
  @ValueSource(strings = {"array", "binary", "codes"})
  void columnarAndRowReadsWriteTheSameRows(String kind) {
    String path = input(kind.equals("codes") ? "array" : kind, kind);
    List<String> passthrough = List.of("note");
    if (kind.equals("codes")) {
      String codes = tmp.resolve("codes").toString();
      new QuantizeJob(spark, TestSpark.config(tmp)).run(new QuantizeJob.Request(path, Precision.INT8, codes,
          codes + "_rejects", DIM));
      path = codes;
      passthrough = List.of();
    }
    Scoring.Staged columnar = stage(path, kind + "-columnar", passthrough, "score.columnar-input=true");
    Scoring.Staged rows = stage(path, kind + "-rows", passthrough, "score.columnar-input=false");
    assertEquals("columnar", columnar.inputRead(), "a Delta table's Parquet scan is read as batches");
    assertEquals("rows", rows.inputRead());
    assertEquals(rows.rowsIn(), columnar.rowsIn());
    assertEquals(rows.scored(), columnar.scored());
    assertEquals(rows.reasons(), columnar.reasons());
    assertTrue(columnar.scored() >= ROWS - 10, "the good rows are scored: " + columnar.scored());
    if (kind.equals("array")) {
      assertEquals(java.util.Map.of("non_finite", 1L, "null_element", 1L, "null_embedding", 1L, "null_id", 1L,
          "wrong_dim", 1L), columnar.reasons());
    }
    // The float columns TableFiles writes without a dictionary are named as Parquet names them.
    for (var f : columnar.filesOf(dev.joule.udfs.files.PartitionFiles.PREDICTIONS)) {
      List<String> written = footer(f.path()).getFileMetaData().getSchema().getColumns().stream()
          .map(c -> String.join(".", c.getPath())).toList();
      List<String> floats = dev.joule.udfs.files.TableFiles.floatColumns(rows.ofKind(StagedRows.PREDICTION).schema(), "");
      assertTrue(floats.contains("scores.list.element") && written.containsAll(floats), floats + " in " + written);
    }
    // The tasks kept the answers they published for the gate's sample, as the files hold them.
    var published = columnar.sampled().published();
    assertTrue(published.size() > 100, "answers kept for the gate's sample: " + published.size());
    for (Row r : columnar.ofKind(StagedRows.PREDICTION).select("id", "label").collectAsList()) {
      if (published.containsKey(r.get(0))) {
        assertEquals(r.getString(1), published.get(r.get(0)), "published label of id " + r.get(0));
      }
    }
    assertSameRowsWritten(columnar, rows);
  }

  /**
   * A table with deletion vectors is read by Spark's Delta reader as a scan under the filter of
   * the rows its vectors delete: the pass reads the scan's batches and skips those rows itself,
   * and writes what the row read writes, none of the deleted rows.
   */
  @org.junit.jupiter.api.Test
  void aTableWithDeletionVectorsIsReadInColumnsWithoutItsDeletedRows() {
    String source = input("array", "dv-source");
    String path = tmp.resolve("dv").toString();
    spark.read().format("delta").load(source).write().format("delta")
        .option("delta.enableDeletionVectors", "true").save(path);
    spark.sql("DELETE FROM delta.`" + path + "` WHERE id % 5 = 3");
    Scoring.Staged columnar = stage(path, "dv-columnar", List.of("note"), "score.columnar-input=true");
    Scoring.Staged rows = stage(path, "dv-rows", List.of("note"), "score.columnar-input=false");
    long live = spark.read().format("delta").load(path).count();
    assertEquals(live, columnar.rowsIn());
    assertSameRowsWritten(columnar, rows);
    assertEquals(0, columnar.ofKind(StagedRows.PREDICTION).filter("id % 5 = 3").count(), "no deleted row scored");
  }

  /**
   * A change feed under a night's filters (the change types it scores, a UDF keeping each id's
   * winning change) is a union of scans with filters above them: the pass reads each scan's
   * batches and applies the plan's filter itself, and writes what the row read writes. The
   * feed's range holds change files (an update), added files (inserts) and, with deletion
   * vectors, files whose rows are filtered by their vectors.
   */
  @org.junit.jupiter.api.Test
  void aFilteredUnionOfScansIsReadInColumnsWithItsFilter() {
    String source = input("array", "feed-source");
    String path = tmp.resolve("feed").toString();
    spark.read().format("delta").load(source).write().format("delta")
        .option("delta.enableChangeDataFeed", "true").option("delta.enableDeletionVectors", "true").save(path);
    spark.sql("UPDATE delta.`" + path + "` SET note = 'updated' WHERE id % 7 = 1"); // version 1: change files
    spark.sql("DELETE FROM delta.`" + path + "` WHERE id % 11 = 2"); // 2: deletion vectors
    spark.sql("INSERT INTO delta.`" + path + "` SELECT id + 100000, embedding, note FROM delta.`" + source
        + "` WHERE id < 300"); // 3: added files
    org.apache.spark.sql.Column kept = org.apache.spark.sql.functions.udf(
        (org.apache.spark.sql.api.java.UDF2<Long, Long, Boolean>) (id, version) -> id == null || id % 3 != 0,
        DataTypes.BooleanType).apply(org.apache.spark.sql.functions.col("id"),
            org.apache.spark.sql.functions.col("_commit_version"));
    Dataset<Row> changes = dev.joule.jobs.delta.ChangeFeedRead.of(spark, path, 1, 3)
        .filter(org.apache.spark.sql.functions.col("_change_type").isin("insert", "update_postimage"))
        .filter(kept);
    JouleConfig config = TestSpark.config(tmp);
    Scoring.Prepared p = Scoring.prepare(config, DeltaIO.readPinned(spark, path, "input"), model, Precision.INT8,
        List.of("note"));
    var found = dev.joule.jobs.score.ColumnarScan.of(p.select(changes));
    assertTrue(found.scan() != null, "read in columns: " + found.whyRows());
    assertTrue(found.scan().parts().stream().filter(x -> x.batches() != null).count() >= 2,
        "a scan per kind of file: " + found.scan().describe());
    assertTrue(found.scan().parts().stream().allMatch(x -> x.batches() == null || x.filter() != null),
        "each scan filtered: " + found.scan().describe());
    long rowsIn = changes.count();
    assertTrue(rowsIn > 300, "changed rows: " + rowsIn);
    Scoring.Staged columnar = stage(changes, path, rowsIn, "feed-columnar", "score.columnar-input=true");
    Scoring.Staged rows = stage(changes, path, rowsIn, "feed-rows", "score.columnar-input=false");
    assertEquals(rowsIn, columnar.rowsIn(), "the filtered rows only, each once");
    assertSameRowsWritten(columnar, rows);
    assertEquals(0, columnar.ofKind(StagedRows.PREDICTION).filter("id % 3 = 0").count(), "the UDF's rows only");
  }

  /**
   * The gate compares a codes run on the answers its tasks kept: with the predictions files it
   * wrote gone, it still checks its whole sample, against the fp32 rows quantize kept and
   * against the source table alike. The sample (500 rows) is a tenth of the table, so the rows
   * the tasks kept and the rows the gate takes must be the same ones.
   */
  @org.junit.jupiter.api.Test
  void theGateComparesACodesRunWithoutReadingItsPredictionsBack() throws Exception {
    String path = input("array", "gate");
    String codes = tmp.resolve("gate-codes").toString();
    String sample = "quality.sample-rows=500";
    new QuantizeJob(spark, TestSpark.config(tmp, sample)).run(new QuantizeJob.Request(path, Precision.INT8, codes,
        codes + "_rejects", DIM));
    Scoring.Staged st = stage(codes, "gate-columnar", List.of(), "score.columnar-input=true", sample);
    for (var f : st.filesOf(dev.joule.udfs.files.PartitionFiles.PREDICTIONS)) {
      java.nio.file.Files.delete(java.nio.file.Path.of(new java.net.URI(f.path()).getPath()));
    }
    JouleConfig config = TestSpark.config(tmp, sample);
    DeltaIO.Pinned pinned = DeltaIO.readPinned(spark, codes, "input");
    Scoring.Prepared p = Scoring.prepare(config, pinned, model, Precision.INT8, List.of());
    var settings = dev.joule.jobs.score.QualityGate.Settings.from(config);
    Dataset<Row> kept = spark.read().format("delta").load(QuantizeJob.gateSample(codes)).select("id", "embedding");
    Dataset<Row> source = spark.read().format("delta").load(path).select("id", "embedding");
    for (Dataset<Row> reference : List.of(kept, source)) {
      dev.joule.jobs.score.QualityGate.Check c = dev.joule.jobs.score.QualityGate.check(settings, p, st, reference);
      assertEquals(500, c.rows(), c.toString());
      assertTrue(c.passed(), c.toString());
    }
    // The kept rows read on the driver (as a run reads them) give the gate the same check as
    // Spark's read: all 500, and a sample of 100 of them, where the order by id hash picks which.
    // Every other row's embedding is negated, so the agreement says which rows were taken.
    List<Row> keptOnDriver = dev.joule.jobs.delta.DriverTableReader.of(spark)
        .rows(DeltaIO.qualified(spark, QuantizeJob.gateSample(codes)), java.util.OptionalLong.empty());
    List<Row> mixed = negated(keptOnDriver, kept.schema(), id -> ((Number) id).longValue() % 2 == 0);
    Dataset<Row> mixedBySpark = spark.createDataFrame(mixed, kept.schema());
    // A run whose tasks kept a sample of 100: the join with their ids picks ~110 of the ~550 rows.
    String small = "quality.sample-rows=100";
    Scoring.Staged st100 = stage(codes, "gate-columnar-100", List.of(), "score.columnar-input=true", small);
    Scoring.Prepared p100 = Scoring.prepare(TestSpark.config(tmp, small), pinned, model, Precision.INT8, List.of());
    for (String rows : List.of(sample, small, small + " kept")) {
      var s = dev.joule.jobs.score.QualityGate.Settings.from(TestSpark.config(tmp, rows.replace(" kept", "")));
      var staged = rows.endsWith("kept") ? st100 : st;
      var prepared = rows.endsWith("kept") ? p100 : p;
      sameChecks(s, prepared, staged, rows, kept, keptOnDriver, mixedBySpark, mixed);
    }
  }

  /**
   * String ids: the kept sample read on the driver gives the gate the same rows as Spark's read
   * (Spark's {@code xxhash64} of the UTF-8 string, then the string), at the whole sample and at a
   * fifth of it, with every other row's embedding negated so that the agreement says which rows
   * were taken.
   */
  @org.junit.jupiter.api.Test
  void theGateOnTheDriverTakesSparksRowsForStringIds() {
    String path = input("array", "gate-strings");
    String strings = tmp.resolve("gate-string-ids").toString();
    spark.read().format("delta").load(path).selectExpr("concat('row-', CAST(id AS STRING)) AS id", "embedding")
        .write().format("delta").save(strings);
    String codes = tmp.resolve("gate-string-codes").toString();
    String sample = "quality.sample-rows=500";
    new QuantizeJob(spark, TestSpark.config(tmp, sample)).run(new QuantizeJob.Request(strings, Precision.INT8, codes,
        codes + "_rejects", DIM));
    DeltaIO.Pinned pinned = DeltaIO.readPinned(spark, codes, "input");
    assertEquals(DataTypes.StringType, pinned.data().schema().apply("id").dataType());
    Dataset<Row> kept = spark.read().format("delta").load(QuantizeJob.gateSample(codes)).select("id", "embedding");
    List<Row> keptOnDriver = dev.joule.jobs.delta.DriverTableReader.of(spark)
        .rows(DeltaIO.qualified(spark, QuantizeJob.gateSample(codes)), java.util.OptionalLong.empty());
    List<Row> mixed = negated(keptOnDriver, kept.schema(),
        id -> id != null && (id.toString().charAt(id.toString().length() - 1) - '0') % 2 == 0);
    Dataset<Row> mixedBySpark = spark.createDataFrame(mixed, kept.schema());
    for (String rows : List.of(sample, "quality.sample-rows=100")) {
      JouleConfig config = TestSpark.config(tmp, rows);
      Scoring.Staged st = stage(codes, "gate-strings-" + rows.replaceAll("\\D", ""), List.of(),
          "score.columnar-input=true", rows);
      Scoring.Prepared p = Scoring.prepare(config, pinned, model, Precision.INT8, List.of());
      sameChecks(dev.joule.jobs.score.QualityGate.Settings.from(config), p, st, rows, kept, keptOnDriver,
          mixedBySpark, mixed);
    }
  }

  /**
   * The gate's check on Spark's read of the kept rows and on the driver's agree, as they are and
   * with half of them negated (then the agreement is low, so equal values mean the same rows).
   */
  static void sameChecks(dev.joule.jobs.score.QualityGate.Settings s, Scoring.Prepared p, Scoring.Staged st,
      String what, Dataset<Row> kept, List<Row> keptOnDriver, Dataset<Row> mixedBySpark, List<Row> mixed) {
    for (boolean negated : List.of(false, true)) {
      var bySpark = dev.joule.jobs.score.QualityGate.check(s, p, st, negated ? mixedBySpark : kept);
      var onDriver = dev.joule.jobs.score.QualityGate.check(s, p, st, negated ? mixed : keptOnDriver);
      String said = what + (negated ? ", half negated: " : ": ") + bySpark + " / " + onDriver;
      assertEquals(bySpark.rows(), onDriver.rows(), said);
      assertEquals(bySpark.value(), onDriver.value(), said);
      assertTrue(bySpark.rows() > 0 && (!negated || bySpark.value() < 0.9), said);
    }
  }

  /** (id, embedding) rows with the embedding negated where {@code negate} holds for the id. */
  static List<Row> negated(List<Row> rows, StructType schema, java.util.function.Predicate<Object> negate) {
    List<Row> out = new java.util.ArrayList<>();
    for (Row r : rows) {
      Object id = r.getAs("id");
      scala.collection.Seq<?> e = r.getAs("embedding");
      Object[] v = new Object[e.size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = negate.test(id) ? -((Float) e.apply(i)) : e.apply(i);
      }
      out.add(new org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema(
          new Object[] {id, scala.collection.immutable.ArraySeq.unsafeWrapArray(v)}, schema));
    }
    return out;
  }

  /** The columnar read wrote exactly the predictions and rejects (with their reasons) of the row read. */
  static void assertSameRowsWritten(Scoring.Staged columnar, Scoring.Staged rows) {
    assertEquals("columnar", columnar.inputRead());
    assertEquals("rows", rows.inputRead());
    assertEquals(rows.scored(), columnar.scored());
    assertEquals(rows.reasons(), columnar.reasons());
    for (String what : List.of(StagedRows.PREDICTION, StagedRows.REJECT)) {
      Dataset<Row> a = columnar.ofKind(what).drop("run_id");
      Dataset<Row> b = rows.ofKind(what).drop("run_id");
      assertEquals(0, a.exceptAll(b).count(), what + "s only the columnar read wrote");
      assertEquals(0, b.exceptAll(a).count(), what + "s only the row read wrote");
      assertEquals(b.count(), a.count());
    }
  }

  static org.apache.parquet.hadoop.metadata.ParquetMetadata footer(String path) {
    try (var reader = org.apache.parquet.hadoop.ParquetFileReader.open(
        org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(new org.apache.hadoop.fs.Path(path),
            spark.sparkContext().hadoopConfiguration()))) {
      return reader.getFooter();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** Scores the change rows {@code changes} of the table at {@code path}, with its note passed through. */
  static Scoring.Staged stage(Dataset<Row> changes, String path, long rowsIn, String name, String... settings) {
    JouleConfig config = TestSpark.config(tmp, settings);
    Scoring.Prepared p = Scoring.prepare(config, DeltaIO.readPinned(spark, path, "input"), model, Precision.INT8,
        List.of("note"));
    String out = tmp.resolve("out-" + name).toString();
    RunColumns columns = new RunColumns(name, model.modelId(), model.modelVersion(), p.kernel().displayName(), 0L,
        p.idKind().sparkType(), p.passthroughType());
    return Scoring.stage(spark, config, p, p.select(changes), rowsIn, name, "score",
        new Scoring.TableFolders(out + "/predictions", out + "/rejects", columns, name));
  }

  static Scoring.Staged stage(String path, String name, List<String> passthrough, String... settings) {
    JouleConfig config = TestSpark.config(tmp, settings);
    DeltaIO.Pinned pinned = DeltaIO.readPinned(spark, path, "input");
    Scoring.Prepared p = Scoring.prepare(config, pinned, model, Precision.INT8, passthrough);
    long rowsIn = pinned.data().count();
    String out = tmp.resolve("out-" + name).toString();
    RunColumns columns = new RunColumns(name, model.modelId(), model.modelVersion(), p.kernel().displayName(), 0L,
        p.idKind().sparkType(), p.passthroughType());
    return Scoring.stage(spark, config, p, p.select(pinned.data()), rowsIn, name, "score",
        new Scoring.TableFolders(out + "/predictions", out + "/rejects", columns, name));
  }
}
