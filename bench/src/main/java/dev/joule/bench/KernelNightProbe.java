package dev.joule.bench;

import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import io.delta.kernel.DataWriteContext;
import io.delta.kernel.Operation;
import io.delta.kernel.Snapshot;
import io.delta.kernel.TableManager;
import io.delta.kernel.Transaction;
import io.delta.kernel.data.ArrayValue;
import io.delta.kernel.data.ColumnVector;
import io.delta.kernel.data.ColumnarBatch;
import io.delta.kernel.data.FilteredColumnarBatch;
import io.delta.kernel.data.Row;
import io.delta.kernel.defaults.engine.DefaultEngine;
import io.delta.kernel.defaults.internal.data.DefaultColumnarBatch;
import io.delta.kernel.defaults.internal.data.vector.DefaultBinaryVector;
import io.delta.kernel.defaults.internal.data.vector.DefaultLongVector;
import io.delta.kernel.engine.Engine;
import io.delta.kernel.engine.FileReadResult;
import io.delta.kernel.exceptions.TableNotFoundException;
import io.delta.kernel.types.ArrayType;
import io.delta.kernel.types.FloatType;
import io.delta.kernel.types.LongType;
import io.delta.kernel.types.StringType;
import io.delta.kernel.types.StructType;
import io.delta.kernel.utils.CloseableIterable;
import io.delta.kernel.utils.CloseableIterator;
import io.delta.kernel.utils.DataFileStatus;
import io.delta.kernel.utils.FileStatus;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A probe, not a product path: what a night costs with no Spark session, in a fresh JVM. It reads
 * a source table's change data feed over a version range with Delta Kernel (the range's change
 * files; the added files of commits without any), takes each id's last change, scores the
 * changed rows with the bridge's kernel on this thread, writes them as a night's tasks write
 * predictions ({@code TaskFile}: Joule's values writer and key index, its Parquet settings made
 * without a session), and commits them into the predictions table of a night's output folder
 * (OUT_DIR/predictions, a copy of one {@code bin/joule nightly} wrote) with {@code KernelUpsert}:
 * the earlier rows of changed and deleted ids marked in deletion vectors, as a night's commit
 * does. A runs row goes to OUT_DIR/probe-runs (Kernel). It keeps no rejects, gate or energy rows,
 * and reads the feed's files whole: it measures the fixed cost of such a night and its cost per
 * changed row, against {@code bin/joule nightly} on the same changes (bench/README.md).
 *
 * <p>Usage: {@code KernelNightProbe SOURCE FROM_VERSION MODEL_FILE OUT_DIR [PRECISION [READER [TO_VERSION]]]}:
 * the changes in versions (FROM_VERSION, TO_VERSION or latest], read by {@code DriverParquetRows}
 * (READER {@code pages}, the default: float lists decoded a page at a time; {@code per-value}:
 * parquet-mr's column reader for every value), or by Kernel's default Parquet reader
 * ({@code kernel-reader}).
 */
public final class KernelNightProbe {

  private KernelNightProbe() {}

  public static void main(String[] args) throws Exception {
    long cpu0 = threadCpu();
    String source = Path.of(args[0]).toAbsolutePath().toUri().toString();
    long from = Long.parseLong(args[1]);
    ModelSpec model = LinearModelFile.readAny(Path.of(args[2]));
    String out = Path.of(args[3]).toAbsolutePath().toUri().toString();
    Precision precision = args.length > 4 ? Precision.parse(args[4]) : Precision.INT8;
    String readerName = args.length > 5 ? args[5] : "pages";
    boolean kernelReader = readerName.equals("kernel-reader");
    dev.joule.jobs.delta.DriverParquetRows.FloatLists lists = switch (readerName) {
      case "pages", "kernel-reader" -> dev.joule.jobs.delta.DriverParquetRows.FloatLists.PAGES;
      case "per-value" -> dev.joule.jobs.delta.DriverParquetRows.FloatLists.PER_VALUE;
      default -> throw new IllegalArgumentException("READER is pages, per-value or kernel-reader, not " + readerName);
    };
    Map<String, Double> phases = new LinkedHashMap<>();

    org.apache.hadoop.conf.Configuration conf = new org.apache.hadoop.conf.Configuration();
    conf.set("fs.file.impl", dev.joule.udfs.files.NioLocalFileSystem.class.getName());
    conf.set("fs.AbstractFileSystem.file.impl", dev.joule.udfs.files.NioLocalFs.class.getName());
    Engine engine = DefaultEngine.create(conf);
    long t = threadCpu();
    Snapshot latest = TableManager.loadSnapshot(source).build(engine);
    long to = args.length > 6 ? Long.parseLong(args[6]) : latest.getVersion();
    List<List<FileStatus>> changeFiles = new ArrayList<>(); // per commit: its change files, else its added files
    List<Boolean> isCdc = new ArrayList<>();
    for (var c : dev.joule.jobs.delta.LogFileActions.read(engine,
        dev.joule.jobs.delta.LogFileActions.range(engine, source, from + 1, to), new org.apache.hadoop.fs.Path(source))) {
      if (c.unreadable() != null) {
        throw new IllegalStateException(c.unreadable() + ": not read by this probe");
      }
      List<FileStatus> cdc = new ArrayList<>();
      List<FileStatus> added = new ArrayList<>();
      boolean removesOrVectors = false;
      for (var f : c.files()) {
        if (!f.dataChange()) {
          continue; // a rewrite that changed no row (OPTIMIZE, say)
        }
        switch (f.kind()) {
          case CHANGE_FILE -> cdc.add(FileStatus.of(f.path(), f.size(), 0));
          case ADD -> {
            added.add(FileStatus.of(f.path(), f.size(), 0));
            removesOrVectors |= f.deletionVector();
          }
          case REMOVE -> removesOrVectors = true;
          default -> throw new IllegalStateException(f.kind().toString());
        }
      }
      if (cdc.isEmpty() && removesOrVectors) {
        // Delta's feed takes such a commit's deletes from its removed files and deletion vectors,
        // which this probe does not read (a night does, through Spark).
        throw new IllegalStateException("version " + c.version() + " removes files or adds deletion vectors "
            + "without change files: not read by this probe");
      }
      changeFiles.add(cdc.isEmpty() ? added : cdc);
      isCdc.add(!cdc.isEmpty());
    }
    phases.put("Kernel: source snapshot and the range's actions", ms(threadCpu() - t));

    // Pass 1, the keys: each id's last change over the range, in commit order, as the place of its
    // row (the file's number in the range, the row's ordinal); no embedding is read.
    t = threadCpu();
    List<FileStatus> feedFiles = new ArrayList<>();
    List<Boolean> feedCdc = new ArrayList<>();
    for (int c = 0; c < changeFiles.size(); c++) {
      for (FileStatus f : changeFiles.get(c)) {
        feedFiles.add(f);
        feedCdc.add(isCdc.get(c));
      }
    }
    Map<Long, Long> winners = new HashMap<>();
    Set<Long> deleted = new HashSet<>();
    long rowsRead = 0;
    long skipped = 0;
    for (int f = 0; f < feedFiles.size(); f++) {
      boolean cdc = feedCdc.get(f);
      List<Object[]> read = readFile(engine, conf, feedFiles.get(f), cdc, false, kernelReader, lists);
      for (int r = 0; r < read.size(); r++) {
        Object[] row = read.get(r);
        rowsRead++;
        String type = cdc ? (String) row[2] : "insert";
        if (row[0] == null || type == null) {
          skipped++; // a night rejects a row without an id
          continue;
        }
        long id = (Long) row[0];
        if (type.equals("delete")) {
          winners.remove(id);
          deleted.add(id);
        } else if (type.equals("insert") || type.equals("update_postimage")) {
          winners.put(id, ((long) f << 32) | r);
          deleted.remove(id);
        }
      }
    }
    boolean[] withWinners = new boolean[feedFiles.size()];
    for (long at : winners.values()) {
      withWinners[(int) (at >>> 32)] = true;
    }
    phases.put("keys: ids and change types read, net change per id", ms(threadCpu() - t));

    // Pass 2: the winners' embeddings, file by file, scored in batches and written as they come.
    Kernel kernel = model.kernel(precision);
    VectorOps ops = VectorOpsProvider.get();
    int dim = model.dim();
    KernelOutput ko = kernel.newOutput();
    List<String> names = kernel.labels();
    String runId = "probe-" + System.currentTimeMillis();
    dev.joule.udfs.files.RunColumns columns = new dev.joule.udfs.files.RunColumns(runId, model.modelId(),
        model.modelVersion(), kernel.displayName(), System.currentTimeMillis() * 1000,
        org.apache.spark.sql.types.DataTypes.LongType, new org.apache.spark.sql.types.StructType())
        .forNight("probe:" + runId, true);
    String predictionsPath = out + "/predictions";
    dev.joule.udfs.files.TableFiles files = dev.joule.udfs.files.TableFiles.prepareWithoutSession(conf,
        new org.apache.spark.sql.internal.SQLConf(), new org.apache.hadoop.fs.Path(java.net.URI.create(predictionsPath))
            .toString(), columns.predictionsSchema(), runId);
    dev.joule.udfs.files.TaskFile file = dev.joule.udfs.files.TaskFile.forPredictions("predictions", files, 0, 0, 0,
        columns, names != null ? names : java.util.stream.IntStream.range(0, ko.width()).mapToObj(Integer::toString)
            .toList());
    int batch = 8192;
    float[] values = new float[batch * dim];
    long[] batchIds = new long[batch];
    int m = 0;
    int n = 0;
    long readNanos = 0;
    long scoreNanos = 0;
    long writeNanos = 0;
    long t2 = threadCpu();
    for (int f = 0; f < feedFiles.size(); f++) {
      final long fileKey = (long) f << 32;
      if (!withWinners[f]) {
        continue;
      }
      List<Object[]> read = readFile(engine, conf, feedFiles.get(f), feedCdc.get(f), true, kernelReader, lists);
      for (int r = 0; r < read.size(); r++) {
        Object[] row = read.get(r);
        if (row[0] == null) {
          continue;
        }
        Long at = winners.get((Long) row[0]);
        if (at == null || at != (fileKey | r)) {
          continue; // not this id's last change
        }
        // DriverParquetRows gives a float list as Spark does: an ArraySeq over float[], or over
        // boxed values where an element is null (a night rejects such a row).
        float[] v = row[1] instanceof scala.collection.immutable.ArraySeq<?> a && a.unsafeArray() instanceof float[] fv
            ? fv : row[1] instanceof float[] fv2 ? fv2 : null;
        if (v == null || v.length != dim) {
          skipped++; // a night rejects it: null, a null element, another dimension
          continue;
        }
        System.arraycopy(v, 0, values, m * dim, dim);
        batchIds[m++] = (Long) row[0];
        if (m == batch) {
          long t3 = threadCpu();
          readNanos += t3 - t2;
          long[] spent = scoreAndWrite(kernel, ko, ops, values, batchIds, m, dim, file);
          scoreNanos += spent[0];
          writeNanos += spent[1];
          n += m;
          m = 0;
          t2 = threadCpu();
        }
      }
    }
    readNanos += threadCpu() - t2;
    if (m > 0) {
      long[] spent = scoreAndWrite(kernel, ko, ops, values, batchIds, m, dim, file);
      scoreNanos += spent[0];
      writeNanos += spent[1];
      n += m;
    }
    phases.put((kernelReader ? "Kernel's Parquet reader" : "DriverParquetRows, float lists " + lists)
        + ": the winners' embeddings", readNanos / 1e6);
    phases.put("bridge kernel " + kernel.displayName() + ": scoring", scoreNanos / 1e6);
    t = threadCpu();
    List<dev.joule.udfs.files.TaskOutput.WrittenFile> written = new ArrayList<>();
    file.close(written);
    phases.put("TaskFile: write " + n + " predictions and their key index", (writeNanos + threadCpu() - t) / 1e6);
    t = threadCpu();
    Set<Object> keys = new HashSet<>(winners.keySet());
    keys.addAll(deleted);
    var upsert = dev.joule.jobs.delta.KernelUpsert.commit(engine, conf, predictionsPath, columns.predictionsSchema(),
        written, Map.of("model_id", model.modelId()), "id", keys, Map.of("model_id", model.modelId()), Optional.empty(), 20_000_000);
    long predictionsVersion = upsert.version();
    phases.put("KernelUpsert: commit, " + upsert.rowsMarked() + " earlier rows marked in " + upsert.filesTouched()
        + " files", ms(threadCpu() - t));

    t = threadCpu();
    StructType runs = new StructType().add("run_id", StringType.STRING).add("source_version", LongType.LONG)
        .add("rows_scored", LongType.LONG).add("rows_deleted", LongType.LONG);
    ColumnarBatch run = new DefaultColumnarBatch(1, runs, new ColumnVector[] {
        new DefaultBinaryVector(StringType.STRING, 1, new byte[][] {runId.getBytes(StandardCharsets.UTF_8)}),
        new DefaultLongVector(LongType.LONG, 1, Optional.empty(), new long[] {to}),
        new DefaultLongVector(LongType.LONG, 1, Optional.empty(), new long[] {n}),
        new DefaultLongVector(LongType.LONG, 1, Optional.empty(), new long[] {deleted.size()})});
    long runsVersion = append(engine, out + "/probe-runs", runs, run);
    phases.put("Kernel: commit the runs row", ms(threadCpu() - t));

    var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    System.out.printf(Locale.ROOT, "probe night of %s, versions %d..%d: %,d feed rows read (%,d skipped: a null id, "
        + "embedding or element), %,d ids upserted, %,d deleted; predictions version %d, runs version %d%n", source,
        from + 1, to, rowsRead, skipped, n, deleted.size(), predictionsVersion, runsVersion);
    for (Map.Entry<String, Double> p : phases.entrySet()) {
      System.out.printf(Locale.ROOT, "  %-55s %8.1f ms main-thread CPU%n", p.getKey(), p.getValue());
    }
    System.out.printf(Locale.ROOT, "  main thread CPU %.2f s; process CPU %.2f s (every thread: JIT, GC); JVM up %.2f s%n",
        (threadCpu() - cpu0) / 1e9, os.getProcessCpuTime() / 1e9,
        ManagementFactory.getRuntimeMXBean().getUptime() / 1e3);
  }

  /** Scores {@code m} rows and writes their predictions; the thread CPU of each, in ns. */
  private static long[] scoreAndWrite(Kernel kernel, KernelOutput ko, VectorOps ops, float[] values, long[] ids, int m,
      int dim, dev.joule.udfs.files.TaskFile file) {
    long t = threadCpu();
    EncodedRows encoded = EncodedRows.encode(kernel.precision(), m, dim, values);
    ko.reset(m);
    kernel.score(encoded, ko, ops);
    long scored = threadCpu();
    for (int r = 0; r < m; r++) {
      int best = ko.bestColumn(r);
      file.writePrediction(ids[r], best, ko.scores()[r * ko.width() + best], null, 0, 0);
    }
    return new long[] {scored - t, threadCpu() - scored};
  }

  /**
   * A feed file's rows: id, embedding (null unless {@code withEmbedding}), change type (null
   * unless {@code cdc}).
   */
  private static List<Object[]> readFile(Engine engine, org.apache.hadoop.conf.Configuration conf, FileStatus f,
      boolean cdc, boolean withEmbedding, boolean kernelReader, dev.joule.jobs.delta.DriverParquetRows.FloatLists lists)
      throws Exception {
    if (kernelReader) {
      return readWithKernel(engine, f, cdc);
    }
    org.apache.spark.sql.types.StructType schema = new org.apache.spark.sql.types.StructType()
        .add("id", org.apache.spark.sql.types.DataTypes.LongType);
    if (withEmbedding) {
      schema = schema.add("embedding",
          org.apache.spark.sql.types.DataTypes.createArrayType(org.apache.spark.sql.types.DataTypes.FloatType));
    }
    if (cdc) {
      schema = schema.add("_change_type", org.apache.spark.sql.types.DataTypes.StringType);
    }
    List<Object[]> rows = dev.joule.jobs.delta.DriverParquetRows.read(conf, new org.apache.hadoop.fs.Path(f.getPath()),
        schema, lists);
    if (withEmbedding && cdc || !withEmbedding && !cdc) {
      return rows; // (id, embedding, type) or (id)
    }
    List<Object[]> out = new ArrayList<>(rows.size());
    for (Object[] r : rows) { // the layout (id, embedding, type)
      out.add(withEmbedding ? new Object[] {r[0], r[1], null} : new Object[] {r[0], null, r[1]});
    }
    return out;
  }

  /** A file's rows (id, embedding, change type) as Kernel's default Parquet reader gives them. */
  private static List<Object[]> readWithKernel(Engine engine, FileStatus f, boolean cdc) throws Exception {
    StructType schema = new StructType().add("id", LongType.LONG).add("embedding", new ArrayType(FloatType.FLOAT, true));
    if (cdc) {
      schema = schema.add("_change_type", StringType.STRING);
    }
    List<Object[]> rows = new ArrayList<>();
    try (CloseableIterator<FileReadResult> read = engine.getParquetHandler().readParquetFiles(
        io.delta.kernel.internal.util.Utils.singletonCloseableIterator(f), schema, Optional.empty())) {
      while (read.hasNext()) {
        ColumnarBatch b = read.next().getData();
        for (int r = 0; r < b.getSize(); r++) {
          ArrayValue a = b.getColumnVector(1).getArray(r);
          ColumnVector e = a.getElements();
          float[] v = new float[a.getSize()];
          for (int i = 0; i < v.length; i++) {
            v[i] = e.getFloat(i);
          }
          rows.add(new Object[] {b.getColumnVector(0).getLong(r), v, cdc ? b.getColumnVector(2).getString(r) : null});
        }
      }
    }
    return rows;
  }

  /** Appends {@code data} to the table at {@code path} (created with {@code schema} if missing); returns the version. */
  private static long append(Engine engine, String path, StructType schema, ColumnarBatch data) throws Exception {
    Transaction txn;
    try {
      Snapshot s = TableManager.loadSnapshot(path).build(engine);
      txn = s.buildUpdateTableTransaction("joule-probe", Operation.WRITE).build(engine);
    } catch (TableNotFoundException e) {
      txn = TableManager.buildCreateTableTransaction(path, schema, "joule-probe").build(engine);
    }
    Row state = txn.getTransactionState(engine);
    CloseableIterator<FilteredColumnarBatch> physical = Transaction.transformLogicalData(engine, state,
        io.delta.kernel.internal.util.Utils.singletonCloseableIterator(new FilteredColumnarBatch(data, Optional.empty())),
        Map.of());
    DataWriteContext ctx = Transaction.getWriteContext(engine, state, Map.of());
    CloseableIterator<DataFileStatus> files = engine.getParquetHandler().writeParquetFiles(ctx.getTargetDirectory(),
        physical, ctx.getStatisticsColumns());
    CloseableIterator<Row> actions = Transaction.generateAppendActions(engine, state, files, ctx);
    return txn.commit(engine, CloseableIterable.inMemoryIterable(actions)).getVersion();
  }

  private static long threadCpu() {
    return ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
  }

  private static double ms(long nanos) {
    return nanos / 1e6;
  }
}
