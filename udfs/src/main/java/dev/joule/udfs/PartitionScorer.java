package dev.joule.udfs;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.EnergyMethod;
import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.bridge.energy.meter.CpuTimeMeter;
import dev.joule.bridge.energy.meter.EnergyLedger;
import dev.joule.bridge.energy.meter.OpsBytesMeter;
import dev.joule.bridge.energy.meter.Workload;
import dev.joule.bridge.flight.FlightTransport;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.node.InProcessTransport;
import dev.joule.bridge.node.NodeReading;
import dev.joule.bridge.node.NodeTransport;
import dev.joule.bridge.node.PartitionChannel;
import dev.joule.bridge.node.ScoredBatch;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.catalyst.CatalystTypeConverters;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.DataType;

/**
 * Scores one Spark partition: validates rows (bad ones become rejects with a reason), packs the
 * good ones into byte-bounded Arrow batches at the kernel's precision, sends them through the
 * bridge to an accelerator node (in process, or Flight nodes with failover), and emits a
 * prediction per row once every batch has come back. After the last row it emits one
 * energy record for the partition: thread CPU and wall time of the whole task, kernel CPU time
 * reported by the node, and the estimated and modelled energy with their methods.
 *
 * <p>Input rows are {@code (id, embedding)} internal rows; reading them directly avoids boxing
 * every float of an {@code array<float>}. Passthrough columns ({@link ScoringSpec#passthrough()}),
 * when a run has any, follow the scored columns: they are copied out of each good row as it is
 * read, never sent to the kernel, and attached to that row's prediction when it is emitted.
 */
public final class PartitionScorer implements FlatMapFunction<Iterator<InternalRow>, Row> {

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(PartitionScorer.class);
  /** Scoring tasks running in this JVM now: sampled into concurrent_tasks. */
  private static final AtomicInteger ACTIVE = new AtomicInteger();
  private static final BufferAllocator ROOT = new RootAllocator();

  private final ScoringSpec spec;

  public PartitionScorer(ScoringSpec spec) {
    this.spec = spec;
  }

  @Override
  public Iterator<Row> call(Iterator<InternalRow> input) {
    NodeTransport transport = spec.bridge() == null ? InProcessHolder.TRANSPORT : FlightTransport.shared(spec.bridge());
    return new Scoring(spec, input, transport, TaskContext.get());
  }

  /** The in-process transport, made on first use (it picks the vector implementation). */
  private static final class InProcessHolder {
    static final NodeTransport TRANSPORT = InProcessTransport.shared();
  }

  /** What a task's scoring iterator kept for the quality gate, once it is exhausted. */
  public interface Sampling {
    SampledRows sampled();
  }

  /** The root all per-partition allocators hang off; tests assert it is empty. */
  public static BufferAllocator rootAllocator() {
    return ROOT;
  }

  /**
   * The lazy iterator that does the work on the task's thread: on the first call it reads the
   * whole partition, sending batches as they fill; rows come out only once every batch has been
   * answered, so a node failing over mid-partition can never make a row appear twice.
   */
  static final class Scoring implements Iterator<Row>, Sampling {
    private final ScoringSpec spec;
    private final Iterator<InternalRow> input;
    private final NodeTransport transport;
    private final TaskContext task;
    private final EmbeddingColumn embeddings;
    private final int batchRows;
    private final ArrayDeque<Row> rejects = new ArrayDeque<>();
    private final SampledRows sampled = SampledRows.empty();
    private final List<Object[]> batchIds = new ArrayList<>();
    // Passthrough values per row (a Row each) of the batch being read and of each batch sent; null when none.
    private final scala.Function1<Object, Object>[] passConverters;
    private final DataType[] passTypes;
    private final Row[] extras;
    private final List<Row[]> batchExtras = new ArrayList<>();

    private final float[] values;
    private final byte[] codes;
    private final float[] scales;
    private final float[] norms;
    private final Object[] ids;
    private boolean scored;
    private boolean energyEmitted;
    private List<ScoredBatch> results = List.of();
    private int resultBatch;
    private int resultRow;

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
    private final org.apache.spark.unsafe.types.UTF8String rowPrecisionLabel;
    private BufferAllocator allocator;
    private PartitionChannel channel;
    // A remote node's own energy for this partition's batches (none for the in-process node).
    private double nodeJ;
    private double nodeLowJ;
    private double nodeHighJ;
    private EnergyMethod nodeMethod;
    // This partition's span on the executor's measured meter (RAPL), or none.
    private EnergyLedger ledger;
    private long span = -1;

    Scoring(ScoringSpec spec, Iterator<InternalRow> input, NodeTransport transport, TaskContext task) {
      this.spec = spec;
      this.input = input;
      this.transport = transport;
      this.task = task;
      this.embeddings = spec.fromCodes() ? null : new EmbeddingColumn(spec.layout(), spec.dim());
      this.batchRows = spec.effectiveBatchRows();
      int stride = spec.kernel().rowPrecision().rowBytes(spec.dim());
      this.values = spec.fromCodes() ? null : new float[batchRows * spec.dim()];
      this.codes = spec.fromCodes() ? new byte[batchRows * stride] : null;
      this.rowPrecisionLabel = org.apache.spark.unsafe.types.UTF8String.fromString(spec.kernel().rowPrecision().label());
      this.scales = spec.fromCodes() ? new float[batchRows] : null;
      this.norms = spec.fromCodes() ? new float[batchRows] : null;
      this.ids = new Object[batchRows];
      int pass = spec.passthroughCount();
      if (pass > 0) {
        this.passTypes = new DataType[pass];
        @SuppressWarnings("unchecked")
        scala.Function1<Object, Object>[] conv = new scala.Function1[pass];
        for (int i = 0; i < pass; i++) {
          passTypes[i] = spec.passthrough().fields()[i].dataType();
          conv[i] = CatalystTypeConverters.createToScalaConverter(passTypes[i]);
        }
        this.passConverters = conv;
        this.extras = new Row[batchRows];
      } else {
        this.passTypes = null;
        this.passConverters = null;
        this.extras = null;
      }
    }

    /**
     * A staged row of the run's schema: the eight common fields, then the passthrough struct
     * when the run carries one ({@code pass}, set on predictions only).
     */
    private Row staged(String kind, Object id, Object label, Object score, Object scores, Object neighbors,
        Object reason, Object energy, Row pass) {
      return extras == null ? RowFactory.create(kind, id, label, score, scores, neighbors, reason, energy)
          : RowFactory.create(kind, id, label, score, scores, neighbors, reason, energy, pass);
    }

    /** This row's passthrough values, copied out of the (reused) input row as external values. */
    private Row readPassthrough(InternalRow row) {
      int from = row.numFields() - passTypes.length;
      Object[] v = new Object[passTypes.length];
      for (int i = 0; i < v.length; i++) {
        v[i] = row.isNullAt(from + i) ? null : passConverters[i].apply(row.get(from + i, passTypes[i]));
      }
      return RowFactory.create(v);
    }

    @Override
    public boolean hasNext() {
      if (!scored) {
        scoreAll();
      }
      return !rejects.isEmpty() || resultBatch < results.size() || !energyEmitted;
    }

    @Override
    public Row next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      if (!rejects.isEmpty()) {
        return rejects.poll();
      }
      if (resultBatch < results.size()) {
        return nextPrediction();
      }
      energyEmitted = true;
      // Measured here, after the partition's rows went downstream, as the whole task's cost.
      return staged(StagedRows.ENERGY, null, null, null, null, null, null, energyRow(), null);
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
      allocator = ROOT.newChildAllocator(name, 0, Long.MAX_VALUE);
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

    private void scoreAll() {
      scored = true;
      start();
      try {
        while (input.hasNext()) {
          int n = readBatch();
          if (n > 0) {
            sendBatch(n);
            testingDelay();
          }
          maxConcurrent = Math.max(maxConcurrent, ACTIVE.get());
        }
        results = new ArrayList<>(channel.finish());
        for (ScoredBatch b : results) {
          NodeReading reading = b.reading();
          kernelCpu += reading.kernelCpuNanos();
          bytesSent += reading.bytesIn() + reading.bytesOut();
          vectorOps = reading.vectorOps();
          rowsScored += b.rows();
          kernelRows += b.rows();
          if (reading.nodeEnergy() != null) {
            nodeJ += reading.nodeEnergy().joules();
            nodeLowJ += reading.nodeEnergy().joulesLow();
            nodeHighJ += reading.nodeEnergy().joulesHigh();
            nodeMethod = reading.nodeEnergy().method();
          }
        }
      } catch (RuntimeException | Error e) {
        abandonSpan();
        throw e;
      } finally {
        release();
      }
    }

    @Override
    public SampledRows sampled() {
      return sampled;
    }

    /** Reads up to a batch of good rows into the buffers; bad rows become rejects. */
    private int readBatch() {
      int n = 0;
      int dim = spec.dim();
      while (n < batchRows && input.hasNext()) {
        InternalRow row = input.next();
        rowsIn++;
        Object id = spec.idColumn().read(row, 0);
        String reason = id == null ? "null_id: id is null" : spec.duplicates().reason(id);
        if (spec.fromCodes()) {
          bytesRead += row.isNullAt(1) ? 0 : row.getBinary(1).length + 8L;
          reason = reason != null ? reason : readCodes(row, n);
        } else {
          bytesRead += embeddings.storedBytes(row, 1);
          reason = reason != null ? reason : embeddings.read(row, 1, values, n * dim);
        }
        if (reason != null) {
          rowsRejected++;
          rejects.add(staged(StagedRows.REJECT, id, null, null, null, null, reason, null, null));
        } else {
          if (extras != null) {
            extras[n] = readPassthrough(row);
          }
          if (spec.gateSample().includes(id)) {
            sampled.add(id, values, n * dim, dim);
          }
          ids[n++] = id;
        }
        if (spec.failPartition() >= 0 && task != null && task.partitionId() == spec.failPartition()
            && rowsIn >= 2) {
          throw new IllegalStateException("injected failure in partition " + task.partitionId()
              + " (testing hook joule.testing.fail-partition)");
        }
      }
      return n;
    }

    /** Copies one codes-table row into the batch buffers; a reason if it cannot be used. */
    private String readCodes(InternalRow row, int n) {
      if (row.isNullAt(1) || row.isNullAt(2) || row.isNullAt(3)) {
        return "null_codes: codes, scale or norm is null";
      }
      // A codes table holds one precision; a row of another (appended by hand) is rejected here
      // rather than read as if it were this run's, which its byte length alone may not reveal.
      if (row.numFields() > 4 && !row.isNullAt(4) && !row.getUTF8String(4).equals(rowPrecisionLabel)) {
        return "wrong_precision: the row holds " + row.getUTF8String(4) + " codes, this run reads "
            + spec.kernel().rowPrecision() + " codes";
      }
      byte[] c = row.getBinary(1);
      int stride = spec.kernel().rowPrecision().rowBytes(spec.dim());
      if (c.length != stride) {
        return "wrong_dim: " + c.length + " bytes of codes, " + spec.kernel().rowPrecision() + " rows of dim "
            + spec.dim() + " take " + stride;
      }
      float scale = row.getFloat(2);
      float norm = row.getFloat(3);
      if (!Float.isFinite(scale) || !Float.isFinite(norm)) {
        return "non_finite: scale " + scale + ", norm " + norm;
      }
      System.arraycopy(c, 0, codes, n * stride, stride);
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
      // The request is built from the reused buffers now; the channel owns it from here.
      channel.send(BridgeBatches.toRequest(encode(n), allocator), n);
      batchIds.add(java.util.Arrays.copyOf(ids, n));
      java.util.Arrays.fill(ids, 0, n, null);
      if (extras != null) {
        batchExtras.add(java.util.Arrays.copyOf(extras, n));
        java.util.Arrays.fill(extras, 0, n, null);
      }
      batches++;
    }

    private Row nextPrediction() {
      ScoredBatch b = results.get(resultBatch);
      Object[] batchId = batchIds.get(resultBatch);
      int r = resultRow;
      KernelInfo k = spec.kernel();
      int width = k.width();
      float[] s = null;
      Row[] neighbors = null;
      if (b.indices() != null) {
        neighbors = new Row[width];
        for (int j = 0; j < width; j++) {
          neighbors[j] = RowFactory.create(k.labels().get(b.indices()[r * width + j]), b.scores()[r * width + j]);
        }
      } else if (spec.keepScores()) {
        s = java.util.Arrays.copyOfRange(b.scores(), r * width, (r + 1) * width);
      }
      float best = b.best()[r];
      Row out;
      if (!Float.isFinite(best)) {
        // Finite inputs near the float limit can overflow in the kernel: never publish NaN or infinity.
        rowsScored--;
        rowsRejected++;
        out = staged(StagedRows.REJECT, batchId[r], null, null, null, null,
            "non_finite_score: the kernel's score is " + best + " (input values too large for float arithmetic?)",
            null, null);
      } else {
        out = staged(StagedRows.PREDICTION, batchId[r], k.labels().get(b.labels()[r]),
            best, s, neighbors, null, null, extras == null ? null : batchExtras.get(resultBatch)[r]);
      }
      if (++resultRow == b.rows()) {
        results.set(resultBatch, null); // let the batch go
        batchIds.set(resultBatch, null);
        if (extras != null) {
          batchExtras.set(resultBatch, null);
        }
        resultRow = 0;
        resultBatch++;
      }
      return out;
    }

    private Row energyRow() {
      long wall = System.nanoTime() - wall0;
      long cpu = THREADS.getCurrentThreadCpuTime() - cpu0;
      long gc = TaskPlace.gcNanos() - gc0;
      EnergySpec es = spec.energy();
      HardwareProfile hw = HardwareProfile.detect().withRapl(ExecutorMeters.meter().available())
          .withGpu(ExecutorMeters.gpu());
      PowerProfile profile = PowerProfile.choose(es.powerProfiles(), hw.cpuModel());
      double memGb = Runtime.getRuntime().maxMemory() / 1e9 / es.slotsPerExecutor();
      List<EnergyFigure> figures = new ArrayList<>(closeSpan());
      // Rows are quantized in the executor unless read as codes.
      Workload work = new Workload(cpu, wall, memGb,
          spec.kernel().work(kernelRows, !spec.fromCodes(), bytesRead, bytesSent));
      figures.addAll(new CpuTimeMeter(profile).estimate(work));
      if (nodeMethod != null) {
        // The remote node's own figures for its kernel time; the task's CPU does not hold it.
        figures.add(new EnergyFigure("node_cpu", nodeMethod, "exclusive", nodeJ, nodeLowJ, nodeHighJ));
      }
      figures.addAll(new OpsBytesMeter(es.opsBytes()).estimate(work));
      if (spec.accumulators() != null) {
        spec.accumulators().add(figures, rowsScored);
      }
      EnergyRecord.TaskIdentity identity = TaskPlace.identity(task);
      EnergyRecord.Counters counters = new EnergyRecord.Counters(rowsIn, rowsScored, rowsRejected,
          bytesRead, bytesSent, batchRows, batches, maxConcurrent, startMillis, wall, cpu, kernelCpu,
          gc, memGb);
      List<String> nodes = channel.nodeIds();
      EnergyRecord.Bridge bridge = new EnergyRecord.Bridge(transport.describe(),
          nodes.isEmpty() ? transport.describe() : String.join(",", nodes), channel.fallbackBatches(),
          channel.failovers());
      return EnergyRecord.toRow(spec, identity, bridge, vectorOps, counters, figures, hw, profile);
    }
  }
}
