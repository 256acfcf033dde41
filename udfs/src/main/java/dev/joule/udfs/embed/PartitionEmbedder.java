package dev.joule.udfs.embed;

import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.OpsBytesModel;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.bridge.energy.meter.CpuTimeMeter;
import dev.joule.bridge.energy.meter.EnergyLedger;
import dev.joule.bridge.energy.meter.OpsBytesMeter;
import dev.joule.bridge.energy.meter.Workload;
import dev.joule.encoder.EncoderCache;
import dev.joule.encoder.EncoderModel;
import dev.joule.encoder.SentenceEncoder;
import dev.joule.encoder.TextHash;
import dev.joule.udfs.EnergyRecord;
import dev.joule.udfs.ExecutorMeters;
import dev.joule.udfs.SampledRows;
import dev.joule.udfs.TaskPlace;
import dev.joule.udfs.files.TableFiles;
import dev.joule.udfs.files.TaskFile;
import dev.joule.udfs.files.TaskOutput;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.CatalystTypeConverters;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Embeds one partition's texts and writes its embeddings and rejects straight into the data
 * files of their Delta tables; returns one {@link TaskOutput} (counts, reasons, energy record,
 * files) and no rows, like a scoring task. Every input row ends in exactly one of the two files.
 *
 * <p>Input rows: {@code id, text, reason} (a reason the read already found, e.g. a malformed
 * line, or null), then the kept columns. The encoder is loaded once per executor
 * ({@link EncoderCache}) and runs on this task's thread.
 */
public final class PartitionEmbedder implements FlatMapFunction<Iterator<Row>, TaskOutput> {

  private static final long serialVersionUID = 1L;
  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
  /**
   * Multiply-adds per word piece of all-MiniLM-L6-v2's dense layers (6 layers: Q, K, V and output
   * projections 4 x 384 x 384, feed-forward 2 x 384 x 1536). Attention scores (grow with text
   * length) are left out, so the modelled figure is a lower bound.
   */
  static final long MACS_PER_TOKEN = 6L * (4L * 384 * 384 + 2L * 384 * 1536);

  private final EmbedSpec spec;
  private final TableFiles embeddings;
  private final TableFiles rejects;

  public PartitionEmbedder(EmbedSpec spec, TableFiles embeddings, TableFiles rejects) {
    this.spec = spec;
    this.embeddings = embeddings;
    this.rejects = rejects;
  }

  @Override
  public Iterator<TaskOutput> call(Iterator<Row> input) throws Exception {
    return List.of(new Task(TaskContext.get()).run(input)).iterator();
  }

  /** One task attempt's state. */
  private final class Task {
    private final TaskContext task;
    private final int partition;
    private final int attempt;
    private final TaskFile embeddingsFile;
    private final TaskFile rejectsFile;
    private final Map<String, Long> reasons = new TreeMap<>();
    private final Map<String, String> examples = new TreeMap<>();
    private final List<Row> batch = new ArrayList<>();
    private final scala.Function1<Object, Object> id;
    private final scala.Function1<Object, Object>[] kept;
    private final UTF8String runId = UTF8String.fromString(spec.runId());
    private final UTF8String model = UTF8String.fromString(spec.model().label());
    private SentenceEncoder encoder;
    private long rowsIn;
    private long embedded;
    private long rejected;
    private long tokens;
    private long truncated;
    private final float[] maxAbs = new float[EncoderModel.DIM]; // of the vectors written
    private long calls;
    private long bytesRead;
    private int batches;
    private long encoderCpu;
    private long startMillis;
    private long wall0;
    private long cpu0;
    private long gc0;
    private EnergyLedger ledger;
    private long span = -1;

    @SuppressWarnings("unchecked")
    Task(TaskContext task) {
      this.task = task;
      partition = task == null ? 0 : task.partitionId();
      attempt = task == null ? 0 : task.attemptNumber();
      long taskAttempt = task == null ? 0 : task.taskAttemptId();
      embeddingsFile = new TaskFile(EmbedTables.EMBEDDINGS, embeddings, partition, attempt, taskAttempt);
      rejectsFile = new TaskFile(EmbedTables.REJECTS, rejects, partition, attempt, taskAttempt);
      id = CatalystTypeConverters.createToCatalystConverter(spec.idType());
      kept = new scala.Function1[spec.kept().size()];
      for (int i = 0; i < kept.length; i++) {
        kept[i] = CatalystTypeConverters.createToCatalystConverter(spec.kept().fields()[i].dataType());
      }
    }

    TaskOutput run(Iterator<Row> input) throws Exception {
      start();
      List<TaskOutput.WrittenFile> files = new ArrayList<>();
      try {
        encoder = EncoderCache.get(spec.model());
        while (input.hasNext()) {
          Row r = input.next();
          rowsIn++;
          String text = r.isNullAt(1) ? null : r.getString(1);
          bytesRead += utf8Bytes(text);
          String reason = reasonBefore(r, text);
          if (reason != null) {
            reject(r.get(0), reason);
          } else {
            batch.add(r);
            if (batch.size() == spec.batchRows()) {
              flush();
            }
          }
        }
        flush();
        embeddingsFile.close(files);
        rejectsFile.close(files);
      } catch (Exception | Error e) {
        embeddingsFile.abort();
        rejectsFile.abort();
        abandonSpan();
        throw e;
      }
      return new TaskOutput(partition, attempt, rowsIn, embedded, rejected, reasons, examples,
          energyRow(files.stream().mapToLong(TaskOutput.WrittenFile::bytes).sum()), files,
          SampledRows.empty(), truncated, embedded > 0 ? maxAbs : null, null);
    }

    /** Why a row is not embedded, known before the encoder sees it; null if it is to be embedded. */
    private String reasonBefore(Row r, String text) {
      if (!r.isNullAt(2)) {
        return r.getString(2);
      }
      Object key = r.get(0);
      if (key == null) {
        return "null_id: id is null";
      }
      String duplicate = spec.duplicates().reason(key);
      if (duplicate != null) {
        return duplicate;
      }
      if (text == null) {
        return "null_text: text is null";
      }
      if (text.isBlank()) {
        return "empty_text: text is empty or only spaces";
      }
      return null;
    }

    private void flush() {
      if (batch.isEmpty()) {
        return;
      }
      List<String> texts = new ArrayList<>(batch.size());
      for (Row r : batch) {
        texts.add(r.getString(1));
      }
      long c0 = THREADS.getCurrentThreadCpuTime();
      SentenceEncoder.Encoded out = encoder.encode(texts);
      encoderCpu += THREADS.getCurrentThreadCpuTime() - c0;
      batches++;
      calls += (texts.size() + encoder.rowsPerCall() - 1) / encoder.rowsPerCall();
      for (int i = 0; i < batch.size(); i++) {
        Row r = batch.get(i);
        int n = out.tokens()[i];
        tokens += Math.min(n, EncoderModel.MAX_TOKENS);
        if (n > EncoderModel.MAX_TOKENS && spec.longText() == LongText.REJECT) {
          reject(r.get(0), String.format(Locale.ROOT, "text_too_long: %d word pieces, %s reads %d "
              + "(--long-text truncate embeds the first %d)", n, spec.model().label(), EncoderModel.MAX_TOKENS,
              EncoderModel.MAX_TOKENS));
          continue;
        }
        if (n > EncoderModel.MAX_TOKENS) {
          truncated++;
        }
        Object[] v = new Object[7 + kept.length];
        v[0] = id.apply(r.get(0));
        v[1] = UnsafeArrayData.fromPrimitiveArray(out.vectors()[i]);
        dev.joule.bridge.kernel.DimensionScales.accumulateMaxAbs(out.vectors()[i], 0, maxAbs);
        v[2] = UTF8String.fromString(TextHash.of(texts.get(i)));
        v[3] = model;
        v[4] = n;
        v[5] = runId;
        v[6] = spec.embeddedAtMicros();
        for (int k = 0; k < kept.length; k++) {
          v[7 + k] = r.isNullAt(3 + k) ? null : kept[k].apply(r.get(3 + k));
        }
        embeddingsFile.write(new GenericInternalRow(v));
        embedded++;
      }
      batch.clear();
    }

    private void reject(Object key, String reason) {
      rejectsFile.write(new GenericInternalRow(new Object[] {key == null ? null : id.apply(key),
          UTF8String.fromString(reason), runId, model}));
      rejected++;
      int colon = reason.indexOf(':');
      String code = colon < 0 ? reason : reason.substring(0, colon);
      reasons.merge(code, 1L, Long::sum);
      examples.putIfAbsent(code, reason);
    }

    private void start() {
      startMillis = System.currentTimeMillis();
      wall0 = System.nanoTime();
      cpu0 = THREADS.getCurrentThreadCpuTime();
      gc0 = TaskPlace.gcNanos();
      // Before anything to undo: with energy.meter = rapl and no RAPL this throws.
      ledger = ExecutorMeters.ledger(spec.energy().meter());
      if (ledger != null) {
        span = ledger.begin(0);
        if (task != null) {
          task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) ctx -> abandonSpan());
        }
      }
    }

    private synchronized List<EnergyFigure> closeSpan() {
      if (span < 0) {
        return List.of();
      }
      long s = span;
      span = -1;
      return ledger.end(s);
    }

    private synchronized void abandonSpan() {
      if (span >= 0) {
        long s = span;
        span = -1;
        ledger.abandon(s);
      }
    }

    private Row energyRow(long bytesWritten) {
      long wall = System.nanoTime() - wall0;
      long cpu = THREADS.getCurrentThreadCpuTime() - cpu0;
      long gc = TaskPlace.gcNanos() - gc0;
      HardwareProfile hw = HardwareProfile.detect().withRapl(ExecutorMeters.meter().available())
          .withGpu(ExecutorMeters.gpu());
      PowerProfile profile = PowerProfile.choose(spec.energy().powerProfiles(), hw.cpuModel());
      double memGb = dev.joule.bridge.energy.CpuTimeEstimator.memoryGbPerVcpu(hw);
      List<EnergyFigure> figures = new ArrayList<>(closeSpan());
      boolean fp32 = spec.model().weights().equals("fp32");
      long macs = tokens * MACS_PER_TOKEN;
      // DRAM: the texts read, and the model's weights streamed once per encoder call (they do not
      // stay in cache between calls); the vectors written.
      long dram = bytesRead + calls * encoder.modelBytes() + embedded * (EncoderModel.DIM * 4L + 8);
      Workload work = new Workload(cpu, wall, bytesRead + bytesWritten, new OpsBytesModel.Work(fp32 ? macs : 0, fp32 ? 0 : macs, 0,
          dram, 0));
      figures.addAll(new CpuTimeMeter(profile, hw, spec.energy().opsBytes()).estimate(work));
      figures.addAll(new OpsBytesMeter(spec.energy().opsBytes()).estimate(work));
      EnergyRecord.TaskIdentity identity = TaskPlace.identity(task);
      EnergyRecord.Counters counters = new EnergyRecord.Counters(rowsIn, embedded, rejected, bytesRead, 0, bytesWritten,
          spec.batchRows(), batches, 1, startMillis, wall, cpu, encoderCpu, gc, memGb);
      EnergyRecord.Work what = new EnergyRecord.Work(spec.runId(), spec.job(), EncoderModel.DIM, spec.modelId(),
          spec.model().label(), spec.model().weights());
      return EnergyRecord.toRow(what, identity, new EnergyRecord.Bridge("in-process", "in-process", 0, 0),
          "onnxruntime, 1 thread per task", counters, figures, hw, profile);
    }
  }

  /** The text's size in UTF-8, as the energy_log's bytes_read counts it; counted, not encoded. */
  static long utf8Bytes(String text) {
    if (text == null) {
      return 0;
    }
    long n = 0;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c < 0x80) {
        n += 1;
      } else if (c < 0x800) {
        n += 2;
      } else if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
        n += 4;
        i++;
      } else if (Character.isSurrogate(c)) {
        n += 1; // an unpaired surrogate: Java's encoder writes '?'
      } else {
        n += 3;
      }
    }
    return n;
  }
}
