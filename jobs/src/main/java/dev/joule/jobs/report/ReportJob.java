package dev.joule.jobs.report;

import static org.apache.spark.sql.functions.col;

import dev.joule.bridge.energy.PowerProfile;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.score.OutputTables;
import dev.joule.jobs.score.ScoreResult;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * {@code joule report}: one run (or two, compared) of an output folder as a self-contained HTML
 * file ({@link ReportHtml}), from the folder's runs, energy_log and predictions tables.
 */
public final class ReportJob {

  /**
   * @param runId a run, or null with {@code latest} or a comparison
   * @param compare baseline and candidate run ids, or null
   */
  public record Request(String runs, String runId, boolean latest, List<String> compare, Path out) {}

  /** The file written and the claim card it shows. */
  public record Report(Path file, ClaimCard card) {}

  private final SparkSession spark;
  private final List<PowerProfile> profiles;

  public ReportJob(SparkSession spark, JouleConfig config) {
    this.spark = spark;
    this.profiles = config.energySpec(1).powerProfiles();
  }

  public Report run(Request r) {
    OutputTables tables = new OutputTables(r.runs().replaceAll("/+$", ""));
    if (!DeltaIO.exists(spark, tables.runs())) {
      throw JouleException.input("no runs table under " + r.runs() + " (" + tables.runs()
          + "): point --runs at the --output folder of a joule score or nightly run");
    }
    Dataset<Row> runs = spark.read().format("delta").load(tables.runs()).where(col("status").equalTo("committed"));
    Dataset<Row> energy = spark.read().format("delta").load(tables.energyLog());
    List<String> ids = new ArrayList<>();
    if (r.compare() != null) {
      ids.addAll(r.compare());
    } else if (r.runId() != null) {
      ids.add(r.runId());
    } else {
      Row latest = runs.orderBy(col("finished_at").desc()).limit(1).collectAsList().stream().findFirst()
          .orElseThrow(() -> JouleException.input("the runs table " + tables.runs() + " has no committed run"));
      ids.add(latest.getAs("run_id"));
    }
    List<ReportHtml.RunPartitions> parts = new ArrayList<>();
    for (String id : ids) {
      List<Row> row = runs.where(col("run_id").equalTo(id)).collectAsList();
      if (row.isEmpty()) {
        throw JouleException.input("no committed run " + id + " in " + tables.runs());
      }
      List<Row> energyRows = energy.where(col("run_id").equalTo(id)).collectAsList();
      parts.add(new ReportHtml.RunPartitions(RunHistory.result(row.get(0), energyRows, profiles), energyRows));
    }
    ScoreResult cand = parts.get(parts.size() - 1).run();
    ClaimCard card;
    if (parts.size() == 2) {
      ScoreResult base = parts.get(0).run();
      if (!base.input().equals(cand.input()) || base.inputVersion() != cand.inputVersion()
          || !base.modelId().equals(cand.modelId())) {
        throw JouleException.usage("--compare needs two runs of the same input, input version and model (the card "
            + "claims the same rows): " + base.runId() + " read " + base.input() + "@" + base.inputVersion() + " with "
            + base.modelId() + ", " + cand.runId() + " read " + cand.input() + "@" + cand.inputVersion() + " with "
            + cand.modelId());
      }
      Quality q = quality(tables, base.runId(), base.kernel(), cand.runId(), cand.kernel());
      card = ClaimCard.compare(base, cand, q, "as recorded in " + tables.runs() + ": " + base.runId()
          + " then " + cand.runId() + " (report made afterwards from the tables)");
    } else {
      card = ClaimCard.forRun(cand);
    }
    String html = ReportHtml.render(r.runs(), card, parts, points(tables, runs, cand),
        ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME));
    try {
      Path out = r.out().toAbsolutePath();
      if (out.getParent() != null) {
        Files.createDirectories(out.getParent());
      }
      Files.writeString(out, html);
      return new Report(out, card);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the report " + r.out(), e);
    }
  }

  /** Agreement with a baseline run in the folder's predictions, or null when they are gone. */
  private Quality quality(OutputTables tables, String baseRun, String baseKernel, String candRun, String candKernel) {
    try {
      Quality q = QualityCheck.compare(spark, tables.predictions(), baseRun, baseKernel, candRun, candKernel);
      return q.rowsCompared() > 0 ? q : null;
    } catch (RuntimeException e) {
      return null; // predictions replaced by a later run of the same kernel: the card says no quality
    }
  }

  /** The latest committed run of each kernel on the same input, version and model, with agreement vs fp32. */
  private List<ReportHtml.Point> points(OutputTables tables, Dataset<Row> runs, ScoreResult cand) {
    List<Row> same = runs.where(col("input_path").equalTo(cand.input())
            .and(col("input_version").equalTo(cand.inputVersion())).and(col("model_id").equalTo(cand.modelId())))
        .collectAsList();
    Map<String, Row> latest = new LinkedHashMap<>();
    same.stream().sorted(Comparator.comparing(rr -> rr.<java.sql.Timestamp>getAs("finished_at")))
        .forEach(rr -> latest.put(rr.getAs("kernel"), rr));
    Row fp32 = latest.values().stream().filter(rr -> "fp32".equals(rr.getAs("precision"))).findFirst().orElse(null);
    List<ReportHtml.Point> points = new ArrayList<>();
    for (Row rr : latest.values()) {
      long scored = Math.max(1, rr.<Long>getAs("rows_scored"));
      double agreement = Double.NaN;
      long compared = 0;
      String against = "";
      if (fp32 != null) {
        if (rr == fp32) {
          agreement = 1.0;
          against = "itself (the reference)";
          compared = scored;
        } else {
          Quality q = quality(tables, fp32.getAs("run_id"), fp32.getAs("kernel"), rr.getAs("run_id"), rr.getAs("kernel"));
          if (q != null) {
            agreement = q.top1Agreement();
            compared = q.rowsCompared();
            against = fp32.getAs("kernel") + " run " + fp32.getAs("run_id");
          }
        }
      }
      points.add(new ReportHtml.Point(rr.getAs("kernel"), rr.getAs("run_id"),
          rr.<Double>getAs("estimated_joules") / scored * 1000, "estimated_cputime", agreement, against, compared));
    }
    return points;
  }
}
