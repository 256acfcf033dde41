package dev.joule.udfs;

import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.bridge.energy.meter.CpuTimeMeter;
import dev.joule.bridge.energy.meter.EnergyLedger;
import dev.joule.bridge.energy.meter.OpsBytesMeter;
import dev.joule.bridge.energy.meter.Workload;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.node.NodeReading;
import dev.joule.bridge.node.NodeTransport;
import dev.joule.bridge.node.PartitionChannel;
import dev.joule.bridge.node.ScoredBatch;
import dev.joule.udfs.input.PartitionInput;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Scores one Spark partition in three steps: {@link #score()} reads it (validating rows: bad ones
 * become rejects with a reason), packs good rows into byte-bounded batches at the kernel's
 * precision and sends them through the bridge (in process, or Flight nodes with failover); then
 * {@link #emitNext} hands every row to a {@link ScoredRowSink}, a batch at a time, once every
 * batch has been answered (so a node failing over mid-partition can never make a row appear
 * twice); then {@link #energyRow()} measures the whole task: thread CPU and wall time, kernel
 * CPU time reported by the node, and the estimated and modelled energy with their methods.
 *
 * <p>Passthrough columns ({@link ScoringSpec#passthrough()}), when a run has any, follow the
 * scored columns: they are copied out of each good row as it is read, never sent to the kernel,
 * and handed to the sink with that row's prediction.
 */
public final class ScoringPass {

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ScoringPass.class);
  /** Scoring tasks running in this JVM now: sampled into concurrent_tasks. */
  private static final AtomicInteger ACTIVE = new AtomicInteger();

  private final ScoringSpec spec;
  private final PartitionInput input;
  private final NodeTransport transport;
  private final TaskContext task;
  private final EmbeddingColumn embeddings;
  private final int batchRows;
  private final List<Object> rejectIds = new ArrayList<>();
  private final List<String> rejectReasons = new ArrayList<>();
  private final SampledRows sampled = SampledRows.empty();
  private final List<Object[]> batchIds = new ArrayList<>();
  // Which rows of the batch being read, and of each batch sent, are in the gate's sample.
  private final boolean[] inSample;
  private final List<boolean[]> batchInSample = new ArrayList<>();
  // Passthrough values per row (internal values, copied) of the batch being read and of each batch sent.
  private final DataType[] passTypes;
  private final Object[][] extras;
  private final List<Object[][]> batchExtras = new ArrayList<>();

  private final float[] values;
  private final byte[] codes;
  private final float[] scales;
  private final float[] norms;
  private final Object[] ids;
  private final UTF8String rowPrecisionLabel;
  private boolean scored;
  private boolean rejectsEmitted;
  private List<ScoredBatch> results = List.of();
  private int resultBatch;

  private long startMillis;
  private long wall0;
  private long cpu0;
  private long gc0;
  private long rowsIn;
  private long rowsScored;
  /** Rows the kernel scored: rowsScored plus any rejected for a non-finite score. */
  private long kernelRows;
  private long rowsRejected;
  private long bytesRead;
  private long bytesSent;
  private long kernelCpu;
  private int batches;
  private int maxConcurrent;
  private String vectorOps = "none";
  private BufferAllocator allocator;
  private PartitionChannel channel;
  // The remote nodes' own figures for this partition's batches (none for the in-process node).
  private final NodeEnergyTotals nodeEnergy = new NodeEnergyTotals();
  // This partition's span on the executor's measured meter (RAPL), or none.
  private EnergyLedger ledger;
  private long span = -1;

  public ScoringPass(ScoringSpec spec, PartitionInput input, NodeTransport transport, TaskContext task) {
    this.spec = spec;
    this.input = input;
    this.transport = transport;
    this.task = task;
    this.embeddings = spec.fromCodes() ? null : new EmbeddingColumn(spec.layout(), spec.dim());
    this.batchRows = spec.effectiveBatchRows();
    int stride = spec.kernel().rowPrecision().rowBytes(spec.dim());
    this.values = spec.fromCodes() ? null : new float[batchRows * spec.dim()];
    this.codes = spec.fromCodes() ? new byte[batchRows * stride] : null;
    this.rowPrecisionLabel = UTF8String.fromString(spec.kernel().rowPrecision().label());
    this.scales = spec.fromCodes() ? new float[batchRows] : null;
    this.norms = spec.fromCodes() ? new float[batchRows] : null;
    this.ids = new Object[batchRows];
    this.inSample = new boolean[batchRows];
    int pass = spec.passthroughCount();
    this.passTypes = pass == 0 ? null : new DataType[pass];
    this.extras = pass == 0 ? null : new Object[batchRows][];
    for (int i = 0; i < pass; i++) {
      passTypes[i] = spec.passthrough().fields()[i].dataType();
    }
  }

  /** What the task kept for the quality gate; complete once {@link #score()} has returned. */
  public SampledRows sampled() {
    return sampled;
  }

  /** Reads and scores the whole partition; rows come out by {@link #emitNext} afterwards. */
  public void score() {
    if (scored) {
      return;
    }
    scored = true;
    start();
    try {
      while (true) {
        int n = readBatch();
        if (n > 0) {
          sendBatch(n);
          testingDelay();
        }
        maxConcurrent = Math.max(maxConcurrent, ACTIVE.get());
        if (n < batchRows) {
          break;
        }
      }
      results = new ArrayList<>(channel.finish());
      for (ScoredBatch b : results) {
        NodeReading reading = b.reading();
        kernelCpu += reading.kernelCpuNanos();
        bytesSent += reading.bytesIn() + reading.bytesOut();
        vectorOps = reading.vectorOps();
        rowsScored += b.rows();
        kernelRows += b.rows();
        nodeEnergy.add(reading);
      }
    } catch (RuntimeException | Error e) {
      abandonSpan();
      throw e;
    } finally {
      release();
    }
  }

  /**
   * Hands the next rows to {@code sink}: first every reject found while reading, then one scored
   * batch per call.
   *
   * @return false once every row has been handed over
   */
  public boolean emitNext(ScoredRowSink sink) {
    score();
    if (!rejectsEmitted) {
      rejectsEmitted = true;
      for (int i = 0; i < rejectIds.size(); i++) {
        sink.reject(rejectIds.get(i), rejectReasons.get(i));
      }
      rejectIds.clear();
      rejectReasons.clear();
      return true;
    }
    if (resultBatch >= results.size()) {
      return false;
    }
    ScoredBatch b = results.get(resultBatch);
    Object[] batchId = batchIds.get(resultBatch);
    Object[][] pass = extras == null ? null : batchExtras.get(resultBatch);
    boolean[] sampledRow = batchInSample.get(resultBatch);
    for (int r = 0; r < b.rows(); r++) {
      float best = b.best()[r];
      if (!Float.isFinite(best)) {
        // Finite inputs near the float limit can overflow in the kernel: never publish NaN or infinity.
        rowsScored--;
        rowsRejected++;
        sink.reject(batchId[r], "non_finite_score: the kernel's score is " + best
            + " (input values too large for float arithmetic?)");
      } else {
        sink.prediction(batchId[r], b, r, pass == null ? null : pass[r]);
        if (sampledRow[r]) {
          publish(batchId[r], b, r);
        }
      }
    }
    // Let the batch go.
    results.set(resultBatch, null);
    batchIds.set(resultBatch, null);
    batchInSample.set(resultBatch, null);
    if (extras != null) {
      batchExtras.set(resultBatch, null);
    }
    resultBatch++;
    return true;
  }

  /** Keeps what was published for a sampled row, for the gate to compare on the driver. */
  private void publish(Object id, ScoredBatch b, int r) {
    KernelInfo k = spec.kernel();
    if (b.indices() == null) {
      sampled.publishLabel(id, k.labels().get(b.labels()[r]));
      return;
    }
    int width = k.width();
    List<String> neighbours = new ArrayList<>(width);
    for (int j = 0; j < width; j++) {
      neighbours.add(k.labels().get(b.indices()[r * width + j]));
    }
    sampled.publishNeighbours(id, neighbours);
  }

  /** Every row to {@code sink}. */
  public void emitAll(ScoredRowSink sink) {
    while (emitNext(sink)) {
      // each call hands over a batch
    }
  }

  public long rowsIn() {
    return rowsIn;
  }

  private void start() {
    startMillis = System.currentTimeMillis();
    wall0 = System.nanoTime();
    cpu0 = THREADS.getCurrentThreadCpuTime();
    gc0 = TaskPlace.gcNanos();
    // Before anything that must be undone: with energy.meter = rapl and no RAPL this throws.
    ledger = ExecutorMeters.ledger(spec.energy().meter());
    maxConcurrent = ACTIVE.incrementAndGet();
    String name = "partition-" + (task == null ? "local" : task.partitionId() + "-" + task.taskAttemptId());
    allocator = PartitionScorer.rootAllocator().newChildAllocator(name, 0, Long.MAX_VALUE);
    if (task != null) {
      // A failed or killed task must still release its buffers, its slot and its energy span.
      task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) ctx -> {
        release();
        abandonSpan();
      });
    }
    if (ledger != null) {
      try {
        span = ledger.begin(0);
      } catch (RuntimeException e) {
        measuringFailed(e);
      }
    }
    channel = transport.open(spec.kernel().handle(), allocator);
  }

  /** A measured meter that fails mid-run: fatal if it was required, else estimates only. */
  private void measuringFailed(RuntimeException e) {
    if (spec.energy().meter().equals("rapl")) {
      throw new IllegalStateException("joule.energy.meter = rapl, but reading it failed: " + e.getMessage(), e);
    }
    LOG.warn("measured energy unavailable for this partition ({}); recording estimates only", e.toString());
    span = -1;
  }

  private void release() {
    if (allocator != null) {
      ACTIVE.decrementAndGet();
      if (channel != null) {
        channel.close();
      }
      BufferAllocator a = allocator;
      allocator = null;
      a.close();
    }
  }

  /** This partition's measured figures, closing its span (none when nothing measures). */
  private synchronized List<EnergyFigure> closeSpan() {
    if (span < 0) {
      return List.of();
    }
    long s = span;
    span = -1;
    try {
      return ledger.end(s);
    } catch (RuntimeException e) {
      measuringFailed(e);
      return List.of();
    }
  }

  /** A partition that will not write its energy row gives its measured share back. */
  private synchronized void abandonSpan() {
    if (span >= 0) {
      long s = span;
      span = -1;
      ledger.abandon(s);
    }
  }

  /** Testing hook: a pause after each batch sent, so that a test can kill an executor mid-stream. */
  private void testingDelay() {
    if (spec.batchDelayMs() > 0) {
      try {
        Thread.sleep(spec.batchDelayMs());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted in the testing delay", e);
      }
    }
  }

  /** Reads up to a batch of good rows into the buffers; bad rows become rejects. */
  private int readBatch() {
    int n = 0;
    int dim = spec.dim();
    while (n < batchRows && input.next()) {
      InternalRow row = input.row();
      rowsIn++;
      Object id = spec.idColumn().read(row, 0);
      String reason = id == null ? "null_id: id is null" : spec.duplicates().reason(id);
      bytesRead += input.storedBytes(embeddings);
      if (reason == null) {
        reason = spec.fromCodes() ? readCodes(row, n) : input.readEmbedding(embeddings, values, n * dim);
      }
      if (reason != null) {
        rowsRejected++;
        rejectIds.add(id);
        rejectReasons.add(reason);
      } else {
        if (extras != null) {
          extras[n] = readPassthrough(row);
        }
        inSample[n] = spec.gateSample().includes(id);
        if (inSample[n] && !spec.fromCodes()) {
          sampled.add(id, values, n * dim, dim);
        }
        ids[n++] = id;
      }
      if (spec.failPartition() >= 0 && task != null && task.partitionId() == spec.failPartition() && rowsIn >= 2) {
        throw new IllegalStateException("injected failure in partition " + task.partitionId()
            + " (testing hook joule.testing.fail-partition)");
      }
    }
    return n;
  }

  /** This row's passthrough values: Spark's internal values, copied out of the (reused) input row. */
  private Object[] readPassthrough(InternalRow row) {
    int from = row.numFields() - passTypes.length;
    Object[] v = new Object[passTypes.length];
    for (int i = 0; i < v.length; i++) {
      v[i] = row.isNullAt(from + i) ? null : InternalRow.copyValue(row.get(from + i, passTypes[i]));
    }
    return v;
  }

  /** Copies one codes-table row into the batch buffers; a reason if it cannot be used. */
  private String readCodes(InternalRow row, int n) {
    if (row.isNullAt(1) || row.isNullAt(2) || row.isNullAt(3)) {
      return "null_codes: codes, scale or norm is null";
    }
    // A codes table holds one precision; a row of another (appended by hand) is rejected here
    // rather than read as if it were this run's, which its byte length alone may not reveal.
    if (row.numFields() > 4 && !row.isNullAt(4) && !input.textEquals(4, rowPrecisionLabel)) {
      return "wrong_precision: the row holds " + row.getUTF8String(4) + " codes, this run reads "
          + spec.kernel().rowPrecision() + " codes";
    }
    int length = input.codesLength();
    int stride = spec.kernel().rowPrecision().rowBytes(spec.dim());
    if (length != stride) {
      return "wrong_dim: " + length + " bytes of codes, " + spec.kernel().rowPrecision() + " rows of dim "
          + spec.dim() + " take " + stride;
    }
    float scale = row.getFloat(2);
    float norm = row.getFloat(3);
    if (!Float.isFinite(scale) || !Float.isFinite(norm)) {
      return "non_finite: scale " + scale + ", norm " + norm;
    }
    input.copyCodes(codes, n * stride);
    scales[n] = scale;
    norms[n] = norm;
    return null;
  }

  private EncodedRows encode(int n) {
    KernelInfo k = spec.kernel();
    if (spec.fromCodes()) {
      return EncodedRows.quantized(k.rowPrecision(), n, spec.dim(), codes, scales, norms);
    }
    return k.encodeFloats(n, values);
  }

  private void sendBatch(int n) {
    // The channel reads the reused buffers before send returns.
    channel.send(encode(n));
    batchIds.add(java.util.Arrays.copyOf(ids, n));
    java.util.Arrays.fill(ids, 0, n, null);
    batchInSample.add(java.util.Arrays.copyOf(inSample, n));
    if (extras != null) {
      batchExtras.add(java.util.Arrays.copyOf(extras, n));
      java.util.Arrays.fill(extras, 0, n, null);
    }
    batches++;
  }

  /**
   * The partition's energy record, measured now, after its rows went downstream, as the whole task's cost.
   *
   * @param bytesWritten bytes of the files the task wrote; -1 where Spark writes its rows later (staged path)
   */
  public Row energyRow(long bytesWritten) {
    long wall = System.nanoTime() - wall0;
    long cpu = THREADS.getCurrentThreadCpuTime() - cpu0;
    long gc = TaskPlace.gcNanos() - gc0;
    EnergySpec es = spec.energy();
    HardwareProfile hw = HardwareProfile.detect().withRapl(ExecutorMeters.meter().available())
        .withGpu(ExecutorMeters.gpu());
    PowerProfile profile = PowerProfile.choose(es.powerProfiles(), hw.cpuModel());
    double memGb = dev.joule.bridge.energy.CpuTimeEstimator.memoryGbPerVcpu(hw);
    List<EnergyFigure> figures = new ArrayList<>(closeSpan());
    // Rows are quantized in the executor unless read as codes.
    Workload work = new Workload(cpu, wall, bytesRead + bytesSent + Math.max(0, bytesWritten),
        spec.kernel().work(kernelRows, !spec.fromCodes(), bytesRead, bytesSent));
    figures.addAll(new CpuTimeMeter(profile, hw, es.opsBytes()).estimate(work));
    // The remote nodes' own figures (their CPU time estimated, a measured device's share); the
    // task's CPU does not hold them.
    if (nodeEnergy.partlyMeasured()) {
      LOG.warn("partition {}: a node measured only some of its batches (a failover, or a counter that failed); "
          + "its measured figures are left out of the energy record", task == null ? "?" : task.partitionId());
    }
    figures.addAll(nodeEnergy.figures());
    figures.addAll(new OpsBytesMeter(es.opsBytes()).estimate(work));
    if (spec.accumulators() != null) {
      spec.accumulators().add(figures, rowsScored);
    }
    EnergyRecord.TaskIdentity identity = TaskPlace.identity(task);
    EnergyRecord.Counters counters = new EnergyRecord.Counters(rowsIn, rowsScored, rowsRejected,
        bytesRead, bytesSent, bytesWritten, batchRows, batches, maxConcurrent, startMillis, wall, cpu, kernelCpu,
        gc, memGb);
    List<String> nodes = channel.nodeIds();
    EnergyRecord.Bridge bridge = new EnergyRecord.Bridge(transport.describe(),
        nodes.isEmpty() ? transport.describe() : String.join(",", nodes), channel.fallbackBatches(),
        channel.failovers());
    return EnergyRecord.toRow(spec, identity, bridge, vectorOps, counters, figures, hw, profile);
  }
}
