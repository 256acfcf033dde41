package dev.joule.jobs.report;

import static org.apache.spark.sql.functions.col;

import dev.joule.bridge.energy.PowerProfile;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.quantize.QuantizeJob;
import dev.joule.jobs.score.OutputTables;
import dev.joule.jobs.score.QualityGate;
import dev.joule.jobs.score.ScoreResult;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * {@code joule report}: runs of one or more output folders as a self-contained HTML file
 * ({@link ReportHtml}), from the folders' runs, energy_log and predictions tables. A comparison
 * pairs runs by the rows they read: the same input at the same version, or a codes table and the
 * version of the table it was quantized from (the codes table records both).
 */
public final class ReportJob {

  /**
   * @param runs output folders to read runs from (the first also gives the nightly trend)
   * @param runId a run, or null with {@code latest} or a comparison
   * @param compare a baseline run id, then one or more candidates; or null
   */
  public record Request(List<String> runs, String runId, boolean latest, List<String> compare, Path out) {
    public Request(String runs, String runId, boolean latest, List<String> compare, Path out) {
      this(List.of(runs), runId, latest, compare, out);
    }
  }

  /** The file written and its claim cards (one per candidate; one card for a single run). */
  public record Report(Path file, List<ClaimCard> cards) {
    public ClaimCard card() {
      return cards.get(0);
    }
  }

  /**
   * A committed run as read back, with the rows it stands for.
   *
   * @param label the kernel, with " from codes" when it read a codes table
   * @param rowsOf the table and version whose rows it scored, a codes table's source for codes runs
   */
  record Loaded(OutputTables tables, Row row, List<Row> energyRows, ScoreResult result, String label,
      String rowsOf) {
    Timestamp finishedAt() {
      return row.getAs("finished_at");
    }
  }

  private final SparkSession spark;
  private final List<PowerProfile> profiles;

  public ReportJob(SparkSession spark, JouleConfig config) {
    this.spark = spark;
    this.profiles = config.energySpec(1).powerProfiles();
  }

  public Report run(Request r) {
    List<OutputTables> folders = new ArrayList<>();
    for (String dir : r.runs()) {
      OutputTables tables = new OutputTables(dir.replaceAll("/+$", ""));
      if (!DeltaIO.exists(spark, tables.runs())) {
        throw JouleException.input("no runs table under " + dir + " (" + tables.runs()
            + "): point --runs at the --output folder of a joule score or nightly run");
      }
      folders.add(tables);
    }
    List<String> ids = new ArrayList<>();
    if (r.compare() != null) {
      ids.addAll(r.compare());
    } else if (r.runId() != null) {
      ids.add(r.runId());
    } else {
      Row latest = committed(folders.get(0)).orderBy(col("finished_at").desc()).limit(1).collectAsList().stream()
          .findFirst().orElseThrow(() -> JouleException.input("the runs table " + folders.get(0).runs()
              + " has no committed run"));
      ids.add(latest.getAs("run_id"));
    }
    List<Loaded> runs = new ArrayList<>();
    for (String id : ids) {
      runs.add(load(folders, id));
    }
    List<ClaimCard> cards = new ArrayList<>();
    if (runs.size() >= 2) {
      Loaded base = runs.get(0);
      for (Loaded cand : runs.subList(1, runs.size())) {
        cards.add(compare(base, cand));
      }
    } else {
      cards.add(ClaimCard.forRun(runs.get(0).result()));
    }
    List<ReportHtml.RunPartitions> parts = runs.stream()
        .map(l -> new ReportHtml.RunPartitions(l.result(), l.label(), l.energyRows())).toList();
    Loaded last = runs.get(runs.size() - 1);
    String html = ReportHtml.render(String.join(", ", r.runs()), cards, parts, points(folders, last),
        nights(folders.get(0)), ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME));
    try {
      Path out = r.out().toAbsolutePath();
      if (out.getParent() != null) {
        Files.createDirectories(out.getParent());
      }
      Files.writeString(out, html);
      return new Report(out, List.copyOf(cards));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the report " + r.out(), e);
    }
  }

  private ClaimCard compare(Loaded base, Loaded cand) {
    ScoreResult b = base.result();
    ScoreResult c = cand.result();
    if (!base.rowsOf().equals(cand.rowsOf()) || !b.modelId().equals(c.modelId())) {
      throw JouleException.usage("--compare needs two runs of the same input, input version and model, or a codes "
          + "table's run and a run of the version it was quantized from (the card claims the same rows): "
          + b.runId() + " read " + base.rowsOf() + " with " + b.modelId() + ", " + c.runId() + " read "
          + cand.rowsOf() + " with " + c.modelId());
    }
    Quality q = quality(base, cand);
    double apart = Math.abs(cand.finishedAt().getTime() - base.finishedAt().getTime()) / 1e3;
    return ClaimCard.compare(b, c, q, "as recorded in the runs tables: " + b.runId() + " (" + base.label() + ") then "
        + c.runId() + " (" + cand.label() + "); report made afterwards from the tables",
        ClaimCard.Pairing.of(b, c, apart, false));
  }

  private Dataset<Row> committed(OutputTables t) {
    return spark.read().format("delta").load(t.runs()).where(col("status").equalTo("committed"));
  }

  private Loaded load(List<OutputTables> folders, String id) {
    for (OutputTables t : folders) {
      List<Row> row = committed(t).where(col("run_id").equalTo(id)).collectAsList();
      if (row.isEmpty()) {
        continue;
      }
      return loaded(t, row.get(0));
    }
    throw JouleException.input("no committed run " + id + " in " + String.join(", ",
        folders.stream().map(OutputTables::runs).toList()));
  }

  private Loaded loaded(OutputTables t, Row run) {
    String id = run.getAs("run_id");
    List<Row> energyRows = DeltaIO.exists(spark, t.energyLog())
        ? spark.read().format("delta").load(t.energyLog()).where(col("run_id").equalTo(id)).collectAsList()
        : List.of();
    ScoreResult result = RunHistory.result(run, energyRows, profiles);
    Lineage l = lineage(result.input(), result.inputVersion());
    return new Loaded(t, run, energyRows, result, result.kernel() + l.labelSuffix(), l.rowsOf());
  }

  /**
   * What rows a run of this input and version stands for: the input itself, or, for a codes
   * table, the source table and version it was quantized from.
   */
  record Lineage(String rowsOf, String labelSuffix) {}

  private final Map<String, Lineage> lineages = new java.util.HashMap<>();

  private Lineage lineage(String input, long version) {
    return lineages.computeIfAbsent(input + "@" + version, k -> {
      String qualified;
      try {
        qualified = DeltaIO.qualified(spark, input);
      } catch (RuntimeException e) {
        qualified = input;
      }
      try {
        Map<String, String> props = DeltaIO.properties(spark, input, version);
        if (props.containsKey(QuantizeJob.PRECISION_PROPERTY) && props.containsKey(QualityGate.SOURCE_PROPERTY)) {
          return new Lineage(props.get(QualityGate.SOURCE_PROPERTY) + "@"
              + props.getOrDefault(QuantizeJob.SOURCE_VERSION_PROPERTY, "unknown version"), " from codes");
        }
      } catch (RuntimeException e) {
        // the input is gone, or that version's log was cleaned up: the run stands for its input as recorded
      }
      return new Lineage(qualified + "@" + version, "");
    });
  }

  /**
   * Agreement with the baseline on every row both runs scored, from their predictions; where a
   * later run replaced those, the agreement the candidate's quality gate measured when it ran.
   */
  private Quality quality(Loaded base, Loaded cand) {
    try {
      Quality q = QualityCheck.compare(spark, base.tables().predictions(), base.result().runId(), base.label(),
          cand.tables().predictions(), cand.result().runId(), cand.label());
      if (q.rowsCompared() > 0) {
        return q;
      }
    } catch (RuntimeException e) {
      // predictions missing or unreadable: fall back to what the run stored
    }
    // The gate compared the candidate with fp32 rows: it stands in only for an fp32 baseline.
    return "fp32".equals(base.result().precision())
        ? Quality.fromGate(base.label(), cand.label(), cand.result().gate()) : null;
  }

  /**
   * The latest committed run of each kernel on the same rows and model in the folders, with
   * agreement vs fp32. Runs are matched on the runs table's columns first; only the kept ones are
   * loaded, and one that cannot be read back is left out rather than failing the report.
   */
  private List<ReportHtml.Point> points(List<OutputTables> folders, Loaded cand) {
    Map<String, Row> latestRow = new LinkedHashMap<>();
    Map<String, OutputTables> folderOf = new java.util.HashMap<>();
    for (OutputTables t : folders) {
      List<Row> rows = committed(t).where(col("model_id").equalTo(cand.result().modelId())
          .and(col("rows_scored").gt(0))).orderBy(col("finished_at")).collectAsList();
      for (Row rr : rows) {
        Lineage l = lineage(rr.getAs("input_path"), rr.<Long>getAs("input_version"));
        if (l.rowsOf().equals(cand.rowsOf())) {
          String label = rr.<String>getAs("kernel") + l.labelSuffix();
          Row seen = latestRow.get(label);
          if (seen == null || !rr.<Timestamp>getAs("finished_at").before(seen.getAs("finished_at"))) {
            latestRow.put(label, rr);
            folderOf.put(label, t);
          }
        }
      }
    }
    Map<String, Loaded> latest = new LinkedHashMap<>();
    for (Map.Entry<String, Row> e : latestRow.entrySet()) {
      if (e.getValue().getAs("run_id").equals(cand.result().runId())) {
        latest.put(e.getKey(), cand);
        continue;
      }
      try {
        latest.put(e.getKey(), loaded(folderOf.get(e.getKey()), e.getValue()));
      } catch (RuntimeException ex) {
        // an unreadable old run: not a point
      }
    }
    Loaded fp32 = latest.values().stream().filter(l -> "fp32".equals(l.result().precision())).findFirst().orElse(null);
    List<ReportHtml.Point> points = new ArrayList<>();
    for (Loaded l : latest.values()) {
      double agreement = Double.NaN;
      long compared = 0;
      String against = "";
      if (fp32 != null) {
        if (l == fp32) {
          agreement = 1.0;
          against = "itself (the reference)";
          compared = l.result().rowsScored();
        } else {
          Quality q = quality(fp32, l);
          if (q != null) {
            agreement = q.top1Agreement();
            compared = q.rowsCompared();
            against = fp32.label() + " run " + fp32.result().runId()
                + (q.basis().equals(Quality.GATE_SAMPLE) ? " (gate sample, stored at run time)" : "");
          }
        }
      }
      EnergySummary e = l.result().energy();
      points.add(new ReportHtml.Point(l.label(), l.result().runId(), e.per1k(e.estimatedJ()),
          e.per1k(e.estimatedLowJ()), e.per1k(e.estimatedHighJ()), "estimated_cputime", agreement, against, compared,
          gateBar(l.result().gate())));
    }
    return points;
  }

  private static double gateBar(QualityGate.Outcome gate) {
    return gate == null || gate.checks().isEmpty() ? Double.NaN : gate.bar();
  }

  /** The folder's nightly runs in time order, for the per-night trend; empty for score folders. */
  private List<ReportHtml.Night> nights(OutputTables t) {
    List<ReportHtml.Night> nights = new ArrayList<>();
    for (Row rr : committed(t).where(col("job").equalTo("nightly")).orderBy(col("finished_at")).collectAsList()) {
      double agreement = Double.NaN;
      String gate = rr.getAs("quality_gate");
      ScoreResult res = null;
      try {
        res = RunHistory.result(rr, List.of(), profiles);
      } catch (RuntimeException e) {
        // an unreadable card: the night is shown without its agreement
      }
      if (res != null && res.gate() != null) {
        Quality q = Quality.fromGate("fp32", res.kernel(), res.gate());
        agreement = q == null ? Double.NaN : q.top1Agreement();
      }
      nights.add(new ReportHtml.Night(rr.getAs("run_id"), rr.getAs("finished_at"), rr.<Long>getAs("rows_scored"),
          rr.<Long>getAs("rows_deleted") == null ? 0 : rr.<Long>getAs("rows_deleted"),
          rr.<Double>getAs("estimated_joules"), rr.<Double>getAs("fixed_estimated_joules"), agreement,
          gate == null ? "" : gate, rr.getAs("source_changes")));
    }
    return nights;
  }
}
