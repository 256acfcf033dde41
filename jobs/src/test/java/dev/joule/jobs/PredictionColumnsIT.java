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
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.ColumnChunkMetaData;
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
 * Predictions written as values ({@code TaskFile.writePrediction}) make the file Spark's own row
 * writer makes from the same rows: the same rows read back, the same Parquet schema and footer,
 * over id types, class kernels with and without scores, top-k neighbours, nights, a null model
 * version, both timestamp encodings, and row groups small enough that a file has several.
 */
class PredictionColumnsIT extends LocalSparkIT {

  private static final List<String> CLASSES = List.of("alpha", "beta", "gamma", "δέλτα", "e");
  /** A top-k kernel's labels: the reference rows' ids. */
  private static final List<String> REFERENCES = java.util.stream.IntStream.range(0, 300)
      .mapToObj(i -> "ref-" + i).toList();

  @AfterEach
  void defaults() {
    spark.conf().unset("spark.sql.parquet.outputTimestampType");
    spark.conf().unset("parquet.block.size");
  }

  @ParameterizedTest
  @CsvSource({
      "long, false, true, false, INT96, 0",
      "long, false, false, false, INT96, 0",
      "int, false, true, true, TIMESTAMP_MICROS, 0",
      "string, false, true, false, TIMESTAMP_MILLIS, 0",
      "long, false, true, true, INT96, 65536",
      "long, true, false, false, INT96, 0",
      "string, true, false, true, TIMESTAMP_MICROS, 65536",
  })
  void predictionsWriteTheFileSparksRowWriterWrites(String idKind, boolean topK, boolean keepScores, boolean night,
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
    List<String> labelNames = topK ? REFERENCES : CLASSES;
    RunColumns c = new RunColumns("run-1", "model-a", night ? null : "v7", topK ? "topk@int8" : "softmax@int8",
        1_765_000_000_123_456L, idType, new StructType());
    if (night) {
      c = c.forNight("nightly:model-a:2026-12-07", false);
    }
    String dir = tmp.resolve("predictions-" + idKind + topK + keepScores + night + timestamps + rowGroupBytes)
        .toString();
    StructType schema = c.predictionsSchema();

    int n = 4_000;
    int width = topK ? 7 : CLASSES.size();
    SplittableRandom random = new SplittableRandom(n + idKind.hashCode());
    Object[] ids = new Object[n];
    int[] labels = new int[n];
    float[] best = new float[n];
    float[] scores = new float[n * width];
    int[] neighbors = topK ? new int[n * width] : null;
    for (int r = 0; r < n; r++) {
      long id = random.nextLong(-1_000_000_000L, 1_000_000_000L);
      ids[r] = r == 7 ? null : switch (idKind) {
        case "int" -> (Object) (int) id;
        case "string" -> "doc-" + id;
        default -> (Object) id;
      };
      best[r] = r == 3 ? Float.NaN : r == 4 ? -0.0f : (float) random.nextDouble();
      for (int j = 0; j < width; j++) {
        scores[r * width + j] = (float) random.nextGaussian();
        if (topK) {
          neighbors[r * width + j] = random.nextInt(REFERENCES.size());
        }
      }
      labels[r] = topK ? neighbors[r * width] : random.nextInt(width);
    }

    TableFiles rowFiles = TableFiles.prepare(spark, dir, schema, "rows");
    TaskFile byRows = new TaskFile("predictions", rowFiles, 0, 0, 1);
    TableFiles valueFiles = TableFiles.prepare(spark, dir, schema, "values");
    TaskFile byValues = TaskFile.forPredictions("predictions", valueFiles, 0, 0, 2, c, labelNames);
    for (int r = 0; r < n; r++) {
      if (topK) {
        byRows.write(row(c, labelNames, ids[r], labels[r], best[r], scores, neighbors, r * width, width));
        byValues.writeNeighbors(ids[r], labels[r], best[r], neighbors, scores, r * width, width);
      } else {
        byRows.write(row(c, labelNames, ids[r], labels[r], best[r], keepScores ? scores : null, null, r * width,
            width));
        byValues.writePrediction(ids[r], labels[r], best[r], keepScores ? scores : null, r * width, width);
      }
    }
    List<TaskOutput.WrittenFile> written = new ArrayList<>();
    byRows.close(written);
    byValues.close(written);
    rowFiles.release();
    valueFiles.release();
    TaskOutput.WrittenFile rowsFile = written.get(0);
    TaskOutput.WrittenFile valuesFile = written.get(1);

    assertEquals(n, valuesFile.rows());
    assertEquals(rowsFile.firstColumn(), valuesFile.firstColumn(), "the id range the commit's statistics take");
    List<String> expected = read(rowsFile.path());
    List<String> actual = read(valuesFile.path());
    assertEquals(n, actual.size());
    assertEquals(expected, actual);

    try (ParquetFileReader rowsReader = open(rowsFile.path()); ParquetFileReader valuesReader = open(valuesFile.path())) {
      var rowsMeta = rowsReader.getFooter().getFileMetaData();
      var valuesMeta = valuesReader.getFooter().getFileMetaData();
      assertEquals(rowsMeta.getSchema(), valuesMeta.getSchema());
      Map<String, String> footer = valuesMeta.getKeyValueMetaData();
      assertEquals(rowsMeta.getKeyValueMetaData(), footer);
      assertTrue(footer.containsKey("org.apache.spark.sql.parquet.row.metadata"), footer.keySet().toString());
      if (rowGroupBytes > 0) {
        assertTrue(valuesReader.getRowGroups().size() > 1, "row groups: " + valuesReader.getRowGroups().size());
      }
      // The same row groups and, in each, the same column chunks: codec, encodings (the scores
      // without a dictionary), values, statistics.
      List<BlockMetaData> expectedGroups = rowsReader.getRowGroups();
      List<BlockMetaData> actualGroups = valuesReader.getRowGroups();
      assertEquals(expectedGroups.size(), actualGroups.size(), "row groups");
      for (int g = 0; g < expectedGroups.size(); g++) {
        assertEquals(expectedGroups.get(g).getRowCount(), actualGroups.get(g).getRowCount(), "rows of group " + g);
        List<ColumnChunkMetaData> expectedChunks = expectedGroups.get(g).getColumns();
        List<ColumnChunkMetaData> actualChunks = actualGroups.get(g).getColumns();
        assertEquals(expectedChunks.size(), actualChunks.size());
        for (int k = 0; k < expectedChunks.size(); k++) {
          ColumnChunkMetaData e = expectedChunks.get(k);
          ColumnChunkMetaData a = actualChunks.get(k);
          String where = e.getPath() + " in group " + g;
          assertEquals(e.getPath(), a.getPath());
          assertEquals(e.getCodec(), a.getCodec(), where);
          assertEquals(e.getEncodings(), a.getEncodings(), where);
          assertEquals(e.getValueCount(), a.getValueCount(), where);
          assertEquals(e.getStatistics(), a.getStatistics(), where);
        }
      }
      assertTrue(actualGroups.get(0).getColumns().stream()
          .filter(chunk -> chunk.getPath().toDotString().startsWith("scores."))
          .allMatch(chunk -> !chunk.hasDictionaryPage()), "scores are written without a dictionary");
    }
  }

  /** The internal row Spark's writer gets for a prediction (as the scoring pass builds it). */
  private static InternalRow row(RunColumns c, List<String> labelNames, Object id, int label, float best,
      float[] scores, int[] neighbors, int from, int width) {
    Object[] v = new Object[c.nightly() ? 11 : 10];
    v[0] = id instanceof String s ? UTF8String.fromString(s) : id;
    v[1] = UTF8String.fromString(c.modelId());
    v[2] = UTF8String.fromString(c.modelVersion());
    v[3] = UTF8String.fromString(c.kernel());
    v[4] = UTF8String.fromString(labelNames.get(label));
    v[5] = best;
    if (neighbors != null) {
      Object[] n = new Object[width];
      for (int j = 0; j < width; j++) {
        n[j] = new GenericInternalRow(new Object[] {UTF8String.fromString(labelNames.get(neighbors[from + j])),
            scores[from + j]});
      }
      v[7] = new org.apache.spark.sql.catalyst.util.GenericArrayData(n);
    } else if (scores != null) {
      v[6] = UnsafeArrayData.fromPrimitiveArray(java.util.Arrays.copyOfRange(scores, from, from + width));
    }
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
