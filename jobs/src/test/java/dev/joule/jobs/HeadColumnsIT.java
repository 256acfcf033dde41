package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.udfs.files.RunColumns;
import dev.joule.udfs.files.TableFiles;
import dev.joule.udfs.files.TaskFile;
import dev.joule.udfs.files.TaskOutput;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A class kernel's predictions written as values ({@code TaskFile.writeHead}) make the file
 * Spark's own row writer makes from the same rows: the same rows read back, the same Parquet
 * schema and footer, over id types, runs with and without scores, nights, a null model version,
 * both timestamp encodings, and row groups small enough that a file has several.
 */
class HeadColumnsIT extends LocalSparkIT {

  private static final List<String> LABELS = List.of("alpha", "beta", "gamma", "δέλτα", "e");

  @AfterEach
  void defaults() {
    spark.conf().unset("spark.sql.parquet.outputTimestampType");
    spark.conf().unset("parquet.block.size");
  }

  @ParameterizedTest
  @CsvSource({
      "long, true, false, INT96, 0",
      "long, false, false, INT96, 0",
      "int, true, true, TIMESTAMP_MICROS, 0",
      "string, true, false, TIMESTAMP_MILLIS, 0",
      "long, true, true, INT96, 65536",
  })
  void headRowsWriteTheFileSparksRowWriterWrites(String idKind, boolean keepScores, boolean night,
      String timestamps, int rowGroupBytes) throws Exception {
    spark.conf().set("spark.sql.parquet.outputTimestampType", timestamps);
    if (rowGroupBytes > 0) {
      spark.conf().set("parquet.block.size", Integer.toString(rowGroupBytes));
    }
    DataType idType = switch (idKind) {
      case "int" -> DataTypes.IntegerType;
      case "string" -> DataTypes.StringType;
      default -> DataTypes.LongType;
    };
    RunColumns c = new RunColumns("run-1", "model-a", night ? null : "v7", "softmax@int8",
        1_765_000_000_123_456L, idType, new StructType());
    if (night) {
      c = c.forNight("nightly:model-a:2026-12-07", false);
    }
    String dir = tmp.resolve("heads-" + idKind + keepScores + night + timestamps + rowGroupBytes).toString();
    StructType schema = c.predictionsSchema();

    int n = 4_000;
    int width = LABELS.size();
    SplittableRandom random = new SplittableRandom(n + idKind.hashCode());
    Object[] ids = new Object[n];
    int[] labels = new int[n];
    float[] best = new float[n];
    float[] scores = new float[n * width];
    for (int r = 0; r < n; r++) {
      long id = random.nextLong(-1_000_000_000L, 1_000_000_000L);
      ids[r] = r == 7 ? null : switch (idKind) {
        case "int" -> (Object) (int) id;
        case "string" -> "doc-" + id;
        default -> (Object) id;
      };
      labels[r] = random.nextInt(width);
      best[r] = r == 3 ? Float.NaN : r == 4 ? -0.0f : (float) random.nextDouble();
      for (int j = 0; j < width; j++) {
        scores[r * width + j] = (float) random.nextGaussian();
      }
    }

    TableFiles rowFiles = TableFiles.prepare(spark, dir, schema, "rows");
    TaskFile byRows = new TaskFile("predictions", rowFiles, 0, 0, 1);
    TableFiles headFiles = TableFiles.prepare(spark, dir, schema, "heads");
    TaskFile byHeads = TaskFile.forHeads("predictions", headFiles, 0, 0, 2, c, LABELS);
    for (int r = 0; r < n; r++) {
      byRows.write(row(c, ids[r], labels[r], best[r], keepScores ? scores : null, r * width, width));
      byHeads.writeHead(ids[r], labels[r], best[r], keepScores ? scores : null, r * width, width);
    }
    List<TaskOutput.WrittenFile> written = new ArrayList<>();
    byRows.close(written);
    byHeads.close(written);
    rowFiles.release();
    headFiles.release();
    TaskOutput.WrittenFile rowsFile = written.get(0);
    TaskOutput.WrittenFile headsFile = written.get(1);

    assertEquals(n, headsFile.rows());
    assertEquals(rowsFile.firstColumn(), headsFile.firstColumn(), "the id range the commit's statistics take");
    List<String> expected = read(rowsFile.path());
    List<String> actual = read(headsFile.path());
    assertEquals(n, actual.size());
    assertEquals(expected, actual);

    try (ParquetFileReader rowsReader = open(rowsFile.path()); ParquetFileReader headsReader = open(headsFile.path())) {
      var rowsMeta = rowsReader.getFooter().getFileMetaData();
      var headsMeta = headsReader.getFooter().getFileMetaData();
      assertEquals(rowsMeta.getSchema(), headsMeta.getSchema());
      Map<String, String> footer = headsMeta.getKeyValueMetaData();
      assertEquals(rowsMeta.getKeyValueMetaData(), footer);
      assertTrue(footer.containsKey("org.apache.spark.sql.parquet.row.metadata"), footer.keySet().toString());
      if (rowGroupBytes > 0) {
        assertTrue(headsReader.getRowGroups().size() > 1, "row groups: " + headsReader.getRowGroups().size());
      }
      assertEquals(rowsReader.getRowGroups().get(0).getColumns().get(0).getCodec(),
          headsReader.getRowGroups().get(0).getColumns().get(0).getCodec());
    }
  }

  /** The internal row Spark's writer gets for a prediction (as the scoring pass builds it). */
  private static InternalRow row(RunColumns c, Object id, int label, float best, float[] scores, int from,
      int width) {
    Object[] v = new Object[c.nightly() ? 11 : 10];
    v[0] = id instanceof String s ? UTF8String.fromString(s) : id;
    v[1] = UTF8String.fromString(c.modelId());
    v[2] = UTF8String.fromString(c.modelVersion());
    v[3] = UTF8String.fromString(c.kernel());
    v[4] = UTF8String.fromString(LABELS.get(label));
    v[5] = best;
    if (scores != null) {
      float[] s = java.util.Arrays.copyOfRange(scores, from, from + width);
      v[6] = UnsafeArrayData.fromPrimitiveArray(s);
    }
    v[7] = null; // neighbors: a class kernel has none
    v[8] = UTF8String.fromString(c.runId());
    v[9] = c.scoredAtMicros();
    if (c.nightly()) {
      v[10] = false;
    }
    return new GenericInternalRow(v);
  }

  private static List<String> read(String path) {
    List<String> out = new ArrayList<>();
    for (Row r : spark.read().parquet(path).collectAsList()) {
      out.add(r.toString());
    }
    return out;
  }

  private static ParquetFileReader open(String path) throws java.io.IOException {
    return ParquetFileReader.open(HadoopInputFile.fromPath(new org.apache.hadoop.fs.Path(path),
        spark.sessionState().newHadoopConf()));
  }
}
