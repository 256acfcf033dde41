package dev.joule.udfs.files;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.column.ColumnDescriptor;
import org.apache.parquet.column.ColumnWriteStore;
import org.apache.parquet.column.ColumnWriter;
import org.apache.parquet.column.ParquetProperties;
import org.apache.parquet.hadoop.CodecFactory;
import org.apache.parquet.hadoop.ColumnChunkPageWriteStore;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetOutputFormat;
import org.apache.parquet.hadoop.api.WriteSupport;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopOutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.spark.sql.execution.datasources.parquet.ParquetWriteSupport;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;

/**
 * A predictions data file (a class kernel's label, score and scores, or a top-k kernel's
 * neighbours; no passthrough columns), written value by value into Parquet's column writers.
 * Spark's row writer walks an {@code InternalRow} per row through its field writers and Parquet's
 * record consumer (JFR: about half of a 1M-row codes score's task CPU was that writing, most of it
 * the walk, not the encoding). Here the run's constant columns are Parquet values made once, and
 * a row is one call per column value.
 *
 * <p>The file is the one Spark's writer makes from the same rows: its Parquet schema and footer
 * (Spark's row schema, version) come from Spark's own {@link ParquetWriteSupport} over the same
 * configuration, its pages and row groups from the same Parquet settings (compression, page and
 * row group sizes, dictionaries, statistics, bloom filters). {@code PredictionColumnsIT} compares
 * the two.
 */
final class PredictionColumns {

  /** {@code parquet.block.size}: the bytes a row group's buffered columns may reach. */
  private final long rowGroupBytes;
  /**
   * The heap share all open writers' row groups may take ({@code parquet.memory.pool.ratio} of
   * the heap), shared equally, as parquet-mr's MemoryManager shares it among Spark's writers.
   */
  private final long poolBytes;
  private static final java.util.concurrent.atomic.AtomicInteger OPEN = new java.util.concurrent.atomic.AtomicInteger();
  private boolean counted;
  /** The size the current row group may reach: as parquet-mr's record writer sets it. */
  private long nextRowGroupBytes;
  private final MessageType schema;
  private final Map<String, String> footer;
  private final ParquetProperties props;
  private final CodecFactory codecs;
  private final CompressionCodecName codec;
  private final ParquetFileWriter file;
  private ColumnChunkPageWriteStore pages;
  private ColumnWriteStore store;
  private long groupRows;
  private long nextSizeCheck;

  private final DataType idType;
  private final Binary modelId;
  private final Binary modelVersion;
  private final Binary kernel;
  private final Binary runId;
  private final long scoredAtMicros;
  private final Binary scoredAtInt96;
  private final TimestampKind scoredAtKind;
  private final boolean tombstone;
  /** The kernel's labels (a top-k kernel's: the reference ids), encoded on first use. */
  private final List<String> labelNames;
  private final Binary[] labels;
  private final int scoresPresent;
  private final ColumnDescriptor[] leaves;
  /** The leaves of {@code neighbors}: its id and score, in the schema's order. */
  private final int[] neighborLeaves;
  private final boolean[] neighborIsId;
  private final int[] neighborPresent;

  private ColumnWriter idW;
  private ColumnWriter modelIdW;
  private ColumnWriter modelVersionW;
  private ColumnWriter kernelW;
  private ColumnWriter labelW;
  private ColumnWriter scoreW;
  private ColumnWriter scoresW;
  private ColumnWriter[] neighborsW;
  private ColumnWriter runIdW;
  private ColumnWriter scoredAtW;
  private ColumnWriter tombstoneW;

  private enum TimestampKind { INT96, MICROS, MILLIS }

  /**
   * Whether a run with these columns can write its predictions here: no passthrough columns, an
   * integer or string id, no Parquet encryption configured (Spark's writer encrypts; this one
   * does not), a {@code scored_at} Spark writes without rebasing.
   */
  static boolean fits(RunColumns columns, Configuration conf) {
    DataType id = columns.idType();
    return columns.passthrough().isEmpty() && conf.get(CRYPTO_FACTORY) == null
        && (id.equals(DataTypes.LongType) || id.equals(DataTypes.IntegerType) || id.equals(DataTypes.StringType))
        && columns.scoredAtMicros() >= INT96_UNREBASED_FROM;
  }

  /** parquet-mr's EncryptionPropertiesFactory.CRYPTO_FACTORY_CLASS_PROPERTY_NAME. */
  private static final String CRYPTO_FACTORY = "parquet.crypto.factory.class";

  /** 1900-01-01T00:00Z: Spark rebases (or refuses) INT96 timestamps before it; none is written here. */
  private static final long INT96_UNREBASED_FROM = -2_208_988_800_000_000L;

  /**
   * @param conf the table's write configuration ({@link TableFiles#prepare}: Spark's Parquet
   *     settings and row schema)
   * @param labels the kernel's labels, by index
   */
  PredictionColumns(Configuration conf, Path path, RunColumns c, List<String> labels) throws IOException {
    WriteSupport.WriteContext spark = new ParquetWriteSupport().init(conf);
    schema = spark.getSchema();
    footer = spark.getExtraMetaData();
    props = properties(conf, repeatedColumns(labels));
    codec = ParquetOutputFormat.getCompression(conf);
    rowGroupBytes = ParquetOutputFormat.getLongBlockSize(conf);
    poolBytes = (long) (conf.getFloat(ParquetOutputFormat.MEMORY_POOL_RATIO, DEFAULT_POOL_RATIO)
        * Runtime.getRuntime().maxMemory());
    int padding = conf.getInt(ParquetOutputFormat.MAX_PADDING_BYTES, DEFAULT_MAX_PADDING);

    idType = c.idType();
    modelId = constant(c.modelId());
    modelVersion = constant(c.modelVersion());
    kernel = constant(c.kernel());
    runId = constant(c.runId());
    tombstone = c.nightly();
    scoredAtMicros = c.scoredAtMicros();
    labelNames = labels;
    this.labels = new Binary[labels.size()];
    leaves = schema.getColumns().toArray(new ColumnDescriptor[0]);
    ColumnDescriptor scoredAt = leaf("scored_at");
    PrimitiveTypeName t = scoredAt.getPrimitiveType().getPrimitiveTypeName();
    if (t == PrimitiveTypeName.INT96) {
      scoredAtKind = TimestampKind.INT96;
      scoredAtInt96 = int96(scoredAtMicros);
    } else if (scoredAt.getPrimitiveType().getLogicalTypeAnnotation()
        instanceof LogicalTypeAnnotation.TimestampLogicalTypeAnnotation ts
        && ts.getUnit() == LogicalTypeAnnotation.TimeUnit.MILLIS) {
      scoredAtKind = TimestampKind.MILLIS;
      scoredAtInt96 = null;
    } else {
      scoredAtKind = TimestampKind.MICROS;
      scoredAtInt96 = null;
    }
    scoresPresent = leaf("scores").getMaxDefinitionLevel();
    neighborLeaves = java.util.stream.IntStream.range(0, leaves.length)
        .filter(i -> leaves[i].getPath()[0].equals("neighbors")).toArray();
    neighborIsId = new boolean[neighborLeaves.length];
    neighborPresent = new int[neighborLeaves.length];
    for (int i = 0; i < neighborLeaves.length; i++) {
      ColumnDescriptor d = leaves[neighborLeaves[i]];
      neighborIsId[i] = d.getPath()[d.getPath().length - 1].equals("id");
      neighborPresent[i] = d.getMaxDefinitionLevel();
    }
    nextSizeCheck = props.getMinRowCountForPageSizeCheck();
    nextRowGroupBytes = rowGroupBytes;

    codecs = new CodecFactory(conf, props.getPageSizeThreshold());
    ParquetFileWriter f = null;
    try {
      openGroup();
      f = new ParquetFileWriter(HadoopOutputFile.fromPath(path, conf), schema, ParquetFileWriter.Mode.CREATE,
          rowGroupBytes, padding, props.getColumnIndexTruncateLength(), props.getStatisticsTruncateLength(),
          props.getPageWriteChecksumEnabled());
      f.start();
    } catch (IOException | RuntimeException e) {
      for (AutoCloseable part : new AutoCloseable[] {f, store, pages, codecs::release}) {
        if (part != null) {
          try {
            part.close();
          } catch (Exception suppressed) {
            e.addSuppressed(suppressed);
          }
        }
      }
      throw e;
    }
    file = f;
    OPEN.incrementAndGet();
    counted = true;
  }

  private static final float DEFAULT_POOL_RATIO = 0.95f;

  /** What parquet-mr's writer pads a row group to, by default (ParquetWriter.MAX_PADDING_SIZE_DEFAULT). */
  private static final int DEFAULT_MAX_PADDING = 8 * 1024 * 1024;

  /**
   * The columns whose values are the run's few {@link Binary} objects, written row after row: the
   * constants, and the label where the kernel has no more labels than the writers remember.
   */
  private static java.util.Set<String> repeatedColumns(List<String> labels) {
    java.util.Set<String> s = new java.util.HashSet<>(
        java.util.Set.of("model_id", "model_version", "kernel", "run_id", "scored_at"));
    if (labels.size() <= RepeatedValuesWriters.REMEMBERED) {
      s.add("label");
    }
    return s;
  }

  /**
   * Parquet's settings as {@link ParquetOutputFormat#getRecordWriter} reads them from the
   * configuration (parquet-mr 1.16: size statistics are not among them), with values writers that
   * find the repeated columns' values by reference ({@link RepeatedValuesWriters}).
   */
  private static ParquetProperties properties(Configuration conf, java.util.Set<String> repeated) {
    ParquetProperties.Builder b = ParquetProperties.builder()
        .withValuesWriterFactory(new RepeatedValuesWriters(repeated))
        .withPageSize(ParquetOutputFormat.getPageSize(conf))
        .withDictionaryPageSize(ParquetOutputFormat.getDictionaryPageSize(conf))
        .withDictionaryEncoding(ParquetOutputFormat.getEnableDictionary(conf))
        .withWriterVersion(ParquetOutputFormat.getWriterVersion(conf))
        .estimateRowCountForPageSizeCheck(ParquetOutputFormat.getEstimatePageSizeCheck(conf))
        .withMinRowCountForPageSizeCheck(ParquetOutputFormat.getMinRowCountForPageSizeCheck(conf))
        .withMaxRowCountForPageSizeCheck(ParquetOutputFormat.getMaxRowCountForPageSizeCheck(conf))
        .withPageValueCountThreshold(ParquetOutputFormat.getValueCountThreshold(conf))
        .withPageRowCountLimit(conf.getInt(ParquetOutputFormat.PAGE_ROW_COUNT_LIMIT,
            ParquetProperties.DEFAULT_PAGE_ROW_COUNT_LIMIT))
        .withPageWriteChecksumEnabled(ParquetOutputFormat.getPageWriteChecksumEnabled(conf))
        .withStatisticsEnabled(ParquetOutputFormat.getStatisticsEnabled(conf))
        .withColumnIndexTruncateLength(conf.getInt(ParquetOutputFormat.COLUMN_INDEX_TRUNCATE_LENGTH,
            ParquetProperties.DEFAULT_COLUMN_INDEX_TRUNCATE_LENGTH))
        .withStatisticsTruncateLength(conf.getInt(ParquetOutputFormat.STATISTICS_TRUNCATE_LENGTH,
            ParquetProperties.DEFAULT_STATISTICS_TRUNCATE_LENGTH))
        .withRowGroupRowCountLimit(conf.getInt(ParquetOutputFormat.BLOCK_ROW_COUNT_LIMIT,
            ParquetProperties.DEFAULT_ROW_GROUP_ROW_COUNT_LIMIT))
        .withBloomFilterEnabled(ParquetOutputFormat.getBloomFilterEnabled(conf))
        .withMaxBloomFilterBytes(ParquetOutputFormat.getBloomFilterMaxBytes(conf))
        .withAdaptiveBloomFilterEnabled(ParquetOutputFormat.getAdaptiveBloomFilterEnabled(conf));
    // Per-column settings, as parquet-mr's ColumnConfigParser reads them: key#column.
    perColumn(conf, ParquetOutputFormat.ENABLE_DICTIONARY,
        (c, v) -> b.withDictionaryEncoding(c, Boolean.parseBoolean(v)));
    perColumn(conf, ParquetOutputFormat.STATISTICS_ENABLED,
        (c, v) -> b.withStatisticsEnabled(c, Boolean.parseBoolean(v)));
    perColumn(conf, ParquetOutputFormat.BLOOM_FILTER_ENABLED,
        (c, v) -> b.withBloomFilterEnabled(c, Boolean.parseBoolean(v)));
    perColumn(conf, ParquetOutputFormat.BLOOM_FILTER_EXPECTED_NDV,
        (c, v) -> b.withBloomFilterNDV(c, Long.parseLong(v)));
    perColumn(conf, ParquetOutputFormat.BLOOM_FILTER_FPP,
        (c, v) -> b.withBloomFilterFPP(c, Double.parseDouble(v)));
    perColumn(conf, ParquetOutputFormat.BLOOM_FILTER_CANDIDATES_NUMBER,
        (c, v) -> b.withBloomFilterCandidatesNumber(c, Integer.parseInt(v)));
    return b.build();
  }

  private static void perColumn(Configuration conf, String key, java.util.function.BiConsumer<String, String> set) {
    conf.getPropsWithPrefix(key + "#").forEach(set);
  }

  private ColumnDescriptor leaf(String field) {
    for (ColumnDescriptor d : leaves) {
      if (d.getPath()[0].equals(field)) {
        return d;
      }
    }
    throw new IllegalStateException("no column " + field + " in " + schema);
  }

  private void openGroup() {
    pages = new ColumnChunkPageWriteStore(codecs.getCompressor(codec), schema, props.getAllocator(),
        props.getColumnIndexTruncateLength(), props.getPageWriteChecksumEnabled());
    store = props.newColumnWriteStore(schema, pages, pages);
    idW = store.getColumnWriter(leaf("id"));
    modelIdW = store.getColumnWriter(leaf("model_id"));
    modelVersionW = store.getColumnWriter(leaf("model_version"));
    kernelW = store.getColumnWriter(leaf("kernel"));
    labelW = store.getColumnWriter(leaf("label"));
    scoreW = store.getColumnWriter(leaf("score"));
    scoresW = store.getColumnWriter(leaf("scores"));
    neighborsW = new ColumnWriter[neighborLeaves.length];
    for (int i = 0; i < neighborLeaves.length; i++) {
      neighborsW[i] = store.getColumnWriter(leaves[neighborLeaves[i]]);
    }
    runIdW = store.getColumnWriter(leaf("run_id"));
    scoredAtW = store.getColumnWriter(leaf("scored_at"));
    tombstoneW = tombstone ? store.getColumnWriter(leaf("tombstone")) : null;
  }

  /**
   * A class kernel's prediction: {@code scores[from, from + width)}, or no scores when
   * {@code scores} is null.
   *
   * @param id the row's id as the input gives it (Long, Integer or String), or null
   */
  void writeClasses(Object id, int label, float score, float[] scores, int from, int width) {
    first(id, label, score);
    if (scores == null) {
      scoresW.writeNull(0, 0);
    } else if (width == 0) {
      scoresW.writeNull(0, 1);
    } else {
      scoresW.write(scores[from], 0, scoresPresent);
      for (int j = 1; j < width; j++) {
        scoresW.write(scores[from + j], 1, scoresPresent);
      }
    }
    for (ColumnWriter n : neighborsW) {
      n.writeNull(0, 0);
    }
    last();
  }

  /**
   * A top-k kernel's prediction: neighbours {@code labels[indices[j]]} with {@code scores[j]}, j
   * in {@code [from, from + k)}, best first; no scores.
   */
  void writeNeighbors(Object id, int label, float score, int[] indices, float[] scores, int from, int k) {
    first(id, label, score);
    scoresW.writeNull(0, 0);
    for (int i = 0; i < neighborsW.length; i++) {
      ColumnWriter w = neighborsW[i];
      if (k == 0) {
        w.writeNull(0, 1);
        continue;
      }
      int present = neighborPresent[i];
      for (int j = 0; j < k; j++) {
        int repeat = j == 0 ? 0 : 1;
        if (neighborIsId[i]) {
          w.write(label(indices[from + j]), repeat, present);
        } else {
          w.write(scores[from + j], repeat, present);
        }
      }
    }
    last();
  }

  /** The columns before the scores. */
  private void first(Object id, int label, float score) {
    if (id == null) {
      idW.writeNull(0, 0);
    } else if (idType.equals(DataTypes.LongType)) {
      idW.write(((Number) id).longValue(), 0, 1);
    } else if (idType.equals(DataTypes.IntegerType)) {
      idW.write(((Number) id).intValue(), 0, 1);
    } else {
      idW.write(Binary.fromString(id.toString()), 0, 1);
    }
    value(modelIdW, modelId);
    value(modelVersionW, modelVersion);
    value(kernelW, kernel);
    labelW.write(label(label), 0, 1);
    scoreW.write(score, 0, 1);
  }

  /** The columns after the neighbours, and the row's end. */
  private void last() {
    value(runIdW, runId);
    switch (scoredAtKind) {
      case INT96 -> scoredAtW.write(scoredAtInt96, 0, 1);
      case MICROS -> scoredAtW.write(scoredAtMicros, 0, 1);
      case MILLIS -> scoredAtW.write(Math.floorDiv(scoredAtMicros, 1000L), 0, 1);
    }
    if (tombstoneW != null) {
      tombstoneW.write(false, 0, 1);
    }
    store.endRecord();
    groupRows++;
    if (groupRows >= nextSizeCheck) {
      checkRowGroupSize();
    }
  }

  /** parquet-mr's record writer's rule (InternalParquetRecordWriter.checkBlockSizeReached). */
  private void checkRowGroupSize() {
    if (groupRows >= props.getRowGroupRowCountLimit()) {
      nextGroup();
      return;
    }
    long bytes = store.getBufferedSize();
    long rowBytes = bytes / groupRows;
    long limit = Math.min(nextRowGroupBytes, poolBytes / Math.max(1, OPEN.get()));
    if (bytes > limit - 2 * rowBytes) {
      nextGroup();
    } else {
      nextSizeCheck = Math.min(
          Math.max(props.getMinRowCountForPageSizeCheck(), (groupRows + (long) (limit / (float) rowBytes)) / 2),
          groupRows + props.getMaxRowCountForPageSizeCheck());
    }
  }

  private void nextGroup() {
    flushGroup();
    openGroup();
    try {
      nextRowGroupBytes = Math.min(file.getNextRowGroupSize(), rowGroupBytes);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    nextSizeCheck = Math.min(props.getMinRowCountForPageSizeCheck(), props.getMaxRowCountForPageSizeCheck());
  }

  private Binary label(int i) {
    Binary b = labels[i];
    if (b == null) {
      b = constant(labelNames.get(i));
      labels[i] = b;
    }
    return b;
  }

  private static void value(ColumnWriter w, Binary v) {
    if (v == null) {
      w.writeNull(0, 0);
    } else {
      w.write(v, 0, 1);
    }
  }

  private void flushGroup() {
    try {
      if (groupRows > 0) {
        file.startBlock(groupRows);
        store.flush();
        pages.flushToFileWriter(file);
        file.endBlock();
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    } finally {
      store.close();
      pages.close();
      groupRows = 0;
    }
  }

  /** Writes the last row group and the footer. */
  void close() throws IOException {
    try {
      flushGroup();
      file.end(footer);
    } finally {
      codecs.release();
      uncount();
    }
  }

  private void uncount() {
    if (counted) {
      counted = false;
      OPEN.decrementAndGet();
    }
  }

  /** Closes what is open without finishing the file (a failed task: it is deleted next). */
  void abandon() {
    // each on its own: a row group that failed to flush has closed the stores already
    quietly(store::close);
    quietly(pages::close);
    quietly(file::close); // the stream only: no footer is written
    quietly(codecs::release);
    uncount();
  }

  private static void quietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      // the file is deleted next
    }
  }

  private static Binary constant(String s) {
    return s == null ? null : Binary.fromConstantByteArray(s.getBytes(StandardCharsets.UTF_8));
  }

  /** A timestamp as Spark writes INT96: nanoseconds of the day, then the Julian day, little-endian. */
  static Binary int96(long micros) {
    long julianMicros = micros + JULIAN_DAY_OF_EPOCH * MICROS_PER_DAY;
    long day = julianMicros / MICROS_PER_DAY;
    long nanosOfDay = (julianMicros % MICROS_PER_DAY) * 1000L;
    byte[] b = new byte[12];
    ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(nanosOfDay).putInt((int) day);
    return Binary.fromConstantByteArray(b);
  }

  private static final long JULIAN_DAY_OF_EPOCH = 2_440_588L;
  private static final long MICROS_PER_DAY = 86_400_000_000L;
}
