package dev.joule.udfs;

import dev.joule.bridge.flight.FlightTransport;
import dev.joule.bridge.node.InProcessTransport;
import dev.joule.bridge.node.NodeTransport;
import dev.joule.bridge.node.ScoredBatch;
import dev.joule.udfs.input.PartitionInput;
import dev.joule.udfs.input.RowInput;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.catalyst.CatalystTypeConverters;
import org.apache.spark.sql.catalyst.InternalRow;

/**
 * Scores one Spark partition ({@link ScoringPass}) and emits it as staged rows ({@link
 * StagedRows}): a prediction or a reject per input row, then one energy row. Runs that write their
 * tables directly use {@code files.PartitionFiles} instead, which takes no detour through
 * external rows.
 */
public final class PartitionScorer implements FlatMapFunction<Iterator<InternalRow>, Row> {

  private static final BufferAllocator ROOT = new RootAllocator();

  private final ScoringSpec spec;

  public PartitionScorer(ScoringSpec spec) {
    this.spec = spec;
  }

  @Override
  public Iterator<Row> call(Iterator<InternalRow> input) {
    return new Scoring(spec, new RowInput(input), transport(spec), TaskContext.get());
  }

  /** The executor's way to its accelerator nodes for this run: in process, or Flight. */
  public static NodeTransport transport(ScoringSpec spec) {
    return spec.bridge() == null ? InProcessHolder.TRANSPORT : FlightTransport.shared(spec.bridge());
  }

  /** The in-process transport, made on first use (it picks the vector implementation). */
  private static final class InProcessHolder {
    static final NodeTransport TRANSPORT = InProcessTransport.shared();
  }

  /** The root all per-partition allocators hang off; tests assert it is empty. */
  public static BufferAllocator rootAllocator() {
    return ROOT;
  }

  /**
   * The lazy iterator over a partition's staged rows: on the first call it scores the whole
   * partition; rows come out a batch at a time once every batch has been answered, the energy
   * row last.
   */
  static final class Scoring implements Iterator<Row>, ScoredRowSink {
    private final ScoringPass pass;
    private final KernelInfo kernel;
    private final boolean keepScores;
    private final scala.Function1<Object, Object>[] passConverters;
    private final ArrayDeque<Row> ready = new ArrayDeque<>();
    private boolean more = true;
    private boolean energyEmitted;

    Scoring(ScoringSpec spec, Iterator<InternalRow> input, NodeTransport transport, TaskContext task) {
      this(spec, new RowInput(input), transport, task);
    }

    @SuppressWarnings("unchecked")
    Scoring(ScoringSpec spec, PartitionInput input, NodeTransport transport, TaskContext task) {
      this.pass = new ScoringPass(spec, input, transport, task);
      this.kernel = spec.kernel();
      this.keepScores = spec.keepScores();
      int n = spec.passthroughCount();
      this.passConverters = n == 0 ? null : new scala.Function1[n];
      for (int i = 0; i < n; i++) {
        passConverters[i] = CatalystTypeConverters.createToScalaConverter(spec.passthrough().fields()[i].dataType());
      }
    }

    @Override
    public boolean hasNext() {
      while (ready.isEmpty() && more) {
        more = pass.emitNext(this);
      }
      return !ready.isEmpty() || !energyEmitted;
    }

    @Override
    public Row next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      if (!ready.isEmpty()) {
        return ready.poll();
      }
      energyEmitted = true;
      // Measured here, after the partition's rows went downstream, as the whole task's cost.
      return staged(StagedRows.ENERGY, null, null, null, null, null, null, pass.energyRow(-1), null);
    }

    @Override
    public void prediction(Object id, ScoredBatch b, int r, Object[] passthrough) {
      int width = kernel.width();
      float[] s = null;
      Row[] neighbors = null;
      if (b.indices() != null) {
        neighbors = new Row[width];
        for (int j = 0; j < width; j++) {
          neighbors[j] = RowFactory.create(kernel.labels().get(b.indices()[r * width + j]), b.scores()[r * width + j]);
        }
      } else if (keepScores) {
        s = java.util.Arrays.copyOfRange(b.scores(), r * width, (r + 1) * width);
      }
      ready.add(staged(StagedRows.PREDICTION, id, kernel.labels().get(b.labels()[r]), b.best()[r], s, neighbors,
          null, null, passthrough == null ? null : external(passthrough)));
    }

    @Override
    public void reject(Object id, String reason) {
      ready.add(staged(StagedRows.REJECT, id, null, null, null, null, reason, null, null));
    }

    private Row external(Object[] internal) {
      Object[] v = new Object[internal.length];
      for (int i = 0; i < v.length; i++) {
        v[i] = internal[i] == null ? null : passConverters[i].apply(internal[i]);
      }
      return RowFactory.create(v);
    }

    /**
     * A staged row of the run's schema: the eight common fields, then the passthrough struct
     * when the run carries one ({@code pass}, set on predictions only).
     */
    private Row staged(String kind, Object id, Object label, Object score, Object scores, Object neighbors,
        Object reason, Object energy, Row pass) {
      return passConverters == null ? RowFactory.create(kind, id, label, score, scores, neighbors, reason, energy)
          : RowFactory.create(kind, id, label, score, scores, neighbors, reason, energy, pass);
    }
  }
}
