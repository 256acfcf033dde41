package dev.joule.udfs;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.energy.CpuTimeEstimator;
import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.OpsBytesModel;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.node.AcceleratorNode;
import dev.joule.bridge.node.InProcessAcceleratorNode;
import dev.joule.bridge.node.NodeReading;
import dev.joule.bridge.node.ScoreReply;
import java.lang.management.GarbageCollectorMXBean;
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
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.catalyst.InternalRow;

/**
 * Scores one Spark partition: validates rows (bad ones become rejects with a reason), packs the
 * good ones into byte-bounded Arrow batches at the kernel's precision, sends them through the
 * bridge to the accelerator node, and emits a prediction per row. After the last row it emits one
 * energy record for the partition: thread CPU and wall time of the whole task, kernel CPU time
 * reported by the node, and the estimated and modelled energy with their methods.
 *
 * <p>Input rows are {@code (id, embedding)} internal rows; reading them directly avoids boxing
 * every float of an {@code array<float>}.
 */
public final class PartitionScorer implements FlatMapFunction<Iterator<InternalRow>, Row> {

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
  /** Scoring tasks running in this JVM now: sampled into concurrent_tasks. */
  private static final AtomicInteger ACTIVE = new AtomicInteger();
  private static final BufferAllocator ROOT = new RootAllocator();

  private final ScoringSpec spec;

  public PartitionScorer(ScoringSpec spec) {
    this.spec = spec;
  }

  @Override
  public Iterator<Row> call(Iterator<InternalRow> input) {
    return new Scoring(spec, input, InProcessAcceleratorNode.shared(), TaskContext.get());
  }

  /** The root all per-partition allocators hang off; tests assert it is empty. */
  public static BufferAllocator rootAllocator() {
    return ROOT;
  }

  /** The lazy iterator that does the work, batch by batch, on the task's thread. */
  static final class Scoring implements Iterator<Row> {
    private final ScoringSpec spec;
    private final Iterator<InternalRow> input;
    private final AcceleratorNode node;
    private final TaskContext task;
    private final EmbeddingColumn embeddings;
    private final int batchRows;
    private final ArrayDeque<Row> ready = new ArrayDeque<>();

    private final float[] values;
    private final byte[] codes;
    private final float[] scales;
    private final float[] norms;
    private final Object[] ids;
    private boolean started;
    private boolean finished;

    private long startMillis;
    private long wall0;
    private long cpu0;
    private long gc0;
    private long rowsIn;
    private long rowsScored;
    private long rowsRejected;
    private long bytesRead;
    private long bytesSent;
    private long kernelCpu;
    private int batches;
    private int maxConcurrent;
    private String vectorOps = "none";
    private BufferAllocator allocator;

    Scoring(ScoringSpec spec, Iterator<InternalRow> input, AcceleratorNode node, TaskContext task) {
      this.spec = spec;
      this.input = input;
      this.node = node;
      this.task = task;
      this.embeddings = spec.fromCodes() ? null : new EmbeddingColumn(spec.layout(), spec.dim());
      this.batchRows = spec.effectiveBatchRows();
      int stride = spec.kernel().rowPrecision().rowBytes(spec.dim());
      this.values = spec.fromCodes() ? null : new float[batchRows * spec.dim()];
      this.codes = spec.fromCodes() ? new byte[batchRows * stride] : null;
      this.scales = spec.fromCodes() ? new float[batchRows] : null;
      this.norms = spec.fromCodes() ? new float[batchRows] : null;
      this.ids = new Object[batchRows];
    }

    @Override
    public boolean hasNext() {
      while (ready.isEmpty() && !finished) {
        advance();
      }
      return !ready.isEmpty();
    }

    @Override
    public Row next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      return ready.poll();
    }

    private void start() {
      started = true;
      startMillis = System.currentTimeMillis();
      wall0 = System.nanoTime();
      cpu0 = THREADS.getCurrentThreadCpuTime();
      gc0 = gcNanos();
      maxConcurrent = ACTIVE.incrementAndGet();
      String name = "partition-" + (task == null ? "local" : task.partitionId() + "-" + task.taskAttemptId());
      allocator = ROOT.newChildAllocator(name, 0, Long.MAX_VALUE);
      if (task != null) {
        // A failed or killed task must still release its buffers and its slot.
        task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) ctx -> release());
      }
      if (!node.hasKernel(spec.kernel().id())) {
        node.pushKernel(spec.kernel().bytes());
      }
    }

    private void release() {
      if (allocator != null) {
        ACTIVE.decrementAndGet();
        BufferAllocator a = allocator;
        allocator = null;
        a.close();
      }
    }

    private void advance() {
      if (!started) {
        start();
      }
      int n = 0;
      int dim = spec.dim();
      while (n < batchRows && input.hasNext()) {
        InternalRow row = input.next();
        rowsIn++;
        Object id = spec.idColumn().read(row, 0);
        String reason;
        if (spec.fromCodes()) {
          bytesRead += row.isNullAt(1) ? 0 : row.getBinary(1).length + 8L;
          reason = id == null ? "null_id: id is null" : readCodes(row, n);
        } else {
          bytesRead += embeddings.storedBytes(row, 1);
          reason = id == null ? "null_id: id is null" : embeddings.read(row, 1, values, n * dim);
        }
        if (reason != null) {
          rowsRejected++;
          ready.add(RowFactory.create(StagedRows.REJECT, id, null, null, null, null, reason, null));
        } else {
          ids[n++] = id;
        }
        if (spec.failPartition() >= 0 && task != null && task.partitionId() == spec.failPartition()
            && rowsIn >= 2) {
          throw new IllegalStateException("injected failure in partition " + task.partitionId()
              + " (testing hook joule.testing.fail-partition)");
        }
      }
      if (n > 0) {
        scoreBatch(n);
      }
      maxConcurrent = Math.max(maxConcurrent, ACTIVE.get());
      if (!input.hasNext()) {
        ready.add(RowFactory.create(StagedRows.ENERGY, null, null, null, null, null, null, energyRow()));
        release();
        finished = true;
      }
    }

    /** Copies one codes-table row into the batch buffers; a reason if it cannot be used. */
    private String readCodes(InternalRow row, int n) {
      if (row.isNullAt(1) || row.isNullAt(2) || row.isNullAt(3)) {
        return "null_codes: codes, scale or norm is null";
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
      EncodedRows rows = EncodedRows.encode(k.rowPrecision(), n, spec.dim(), values);
      return k.rescorePrecision() == null ? rows
          : rows.withRescore(EncodedRows.encode(k.rescorePrecision(), n, spec.dim(), values));
    }

    private void scoreBatch(int n) {
      EncodedRows rows = encode(n);
      KernelInfo k = spec.kernel();
      int width = k.width();
      try (VectorSchemaRoot request = BridgeBatches.toRequest(rows, allocator);
          ScoreReply reply = node.score(k.id(), request, allocator)) {
        VectorSchemaRoot resp = reply.scores();
        if (resp.getRowCount() != n) {
          throw new IllegalStateException("node " + node.nodeId() + " answered " + resp.getRowCount()
              + " rows for a batch of " + n);
        }
        IntVector label = (IntVector) resp.getVector("label");
        Float4Vector score = (Float4Vector) resp.getVector("score");
        Float4Vector all = (Float4Vector) ((FixedSizeListVector) resp.getVector("scores")).getDataVector();
        IntVector indices = k.neighbors()
            ? (IntVector) ((FixedSizeListVector) resp.getVector("indices")).getDataVector() : null;
        for (int r = 0; r < n; r++) {
          float[] s = null;
          Row[] neighbors = null;
          if (indices != null) {
            neighbors = new Row[width];
            for (int j = 0; j < width; j++) {
              neighbors[j] = RowFactory.create(k.labels().get(indices.get(r * width + j)), all.get(r * width + j));
            }
          } else if (spec.keepScores()) {
            s = new float[width];
            for (int j = 0; j < width; j++) {
              s[j] = all.get(r * width + j);
            }
          }
          ready.add(RowFactory.create(StagedRows.PREDICTION, ids[r], k.labels().get(label.get(r)),
              score.get(r), s, neighbors, null, null));
          ids[r] = null;
        }
        NodeReading reading = reply.reading();
        kernelCpu += reading.kernelCpuNanos();
        bytesSent += reading.bytesIn() + reading.bytesOut();
        vectorOps = reading.vectorOps();
      }
      rowsScored += n;
      batches++;
    }

    private Row energyRow() {
      long wall = System.nanoTime() - wall0;
      long cpu = THREADS.getCurrentThreadCpuTime() - cpu0;
      long gc = gcNanos() - gc0;
      HardwareProfile hw = HardwareProfile.detect();
      EnergySpec es = spec.energy();
      PowerProfile profile = PowerProfile.choose(es.powerProfiles(), hw.cpuModel());
      double memGb = Runtime.getRuntime().maxMemory() / 1e9 / es.slotsPerExecutor();
      List<EnergyFigure> figures = new ArrayList<>(
          CpuTimeEstimator.estimate(cpu, wall, memGb, profile));
      KernelInfo k = spec.kernel();
      long macs = rowsScored * k.macsPerRow();
      boolean fp32 = k.precision() == Precision.FP32;
      // int4 and binary work is charged at the int8 MAC energy: an upper bound (Horowitz gives no
      // 4-bit or XOR/popcount figures). Rows are quantized in the executor unless read as codes.
      long quantized = !spec.fromCodes() && k.rowPrecision().quantized() ? rowsScored * spec.dim() : 0;
      // Bytes from DRAM: the stored rows decoded once, and the Arrow batches written by the
      // executor and read by the node (large batches do not stay in cache).
      figures.addAll(es.opsBytes().model(new OpsBytesModel.Work(
          fp32 ? macs : 0, fp32 ? 0 : macs, quantized,
          bytesRead + 2 * bytesSent, rowsScored * k.parameterBytes())));
      EnergyRecord.TaskIdentity identity = task == null
          ? new EnergyRecord.TaskIdentity(-1, -1, -1, -1, 0, "none", "localhost")
          : new EnergyRecord.TaskIdentity(task.stageId(), task.stageAttemptNumber(),
              task.partitionId(), task.taskAttemptId(), task.attemptNumber(), executorId(), host());
      EnergyRecord.Counters counters = new EnergyRecord.Counters(rowsIn, rowsScored, rowsRejected,
          bytesRead, bytesSent, batchRows, batches, maxConcurrent, startMillis, wall, cpu, kernelCpu,
          gc, memGb);
      return EnergyRecord.toRow(spec, identity, node.nodeId(), vectorOps, counters, figures, hw,
          profile);
    }

    private static long gcNanos() {
      long ms = 0;
      for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
        ms += Math.max(0, gc.getCollectionTime());
      }
      return ms * 1_000_000L;
    }

    private static String executorId() {
      SparkEnv env = SparkEnv.get();
      return env == null ? "unknown" : env.executorId();
    }

    private static String host() {
      SparkEnv env = SparkEnv.get();
      return env == null ? "unknown" : env.blockManager().blockManagerId().host();
    }
  }
}
