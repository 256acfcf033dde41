package dev.joule.jobs.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.score.ScoreResult;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;

/**
 * A committed run read back from an output folder's tables: its runs row (with the claim card it
 * wrote as JSON) and its energy_log rows become the {@link ScoreResult} the run returned.
 */
public final class RunHistory {

  private static final ObjectMapper JSON = new ObjectMapper();

  private RunHistory() {}

  /** @param run a row of the runs table; @param energyRows the run's energy_log rows */
  public static ScoreResult result(Row run, List<Row> energyRows, List<PowerProfile> profiles) {
    String runId = run.getAs("run_id");
    JsonNode card;
    try {
      card = JSON.readTree(run.<String>getAs("claim_card"));
    } catch (IOException | RuntimeException e) {
      throw JouleException.input("run " + runId + ": its claim card in the runs table is not readable JSON");
    }
    JsonNode figures = card.path("runs").path(card.path("runs").size() - 1);
    PowerProfile profile = EnergySummary.profileNamed(
        energyRows.isEmpty() ? null : energyRows.get(0).getAs("hw_power_profile"), profiles);
    long fixedCpuNanos;
    if (figures.has("fixed_cpu_seconds")) {
      fixedCpuNanos = Math.round(figures.path("fixed_cpu_seconds").asDouble(0) * 1e9);
    } else { // cards written before the fixed part's CPU time was recorded
      double fixedJ = figures.path("fixed_estimated_cputime_joules").path("typical").asDouble(0);
      fixedCpuNanos = Math.round(fixedJ / profile.cpuWattsTypical() * 1e9);
    }
    JsonNode hw = card.path("hardware");
    HardwareProfile recorded = new HardwareProfile(hw.path("cpu_model").asText("not recorded"),
        hw.path("vcpus").asInt(0), hw.path("hypervisor").asBoolean(false), hw.path("ram_bytes").asLong(0),
        hw.path("rapl_available").asBoolean(false), hw.path("gpu").asText(null));
    EnergySummary energy = EnergySummary.of(energyRows, fixedCpuNanos, profiles, recorded,
        figures.path("jvm_runs_before").asInt(-1));
    if (energyRows.isEmpty() && figures.has("load_avg_1m") && figures.get("load_avg_1m").isNumber()) {
      energy = energy.withLoad(figures.get("load_avg_1m").asDouble());
    }
    return new ScoreResult(runId, run.getAs("input_path"), run.<Long>getAs("input_version"), null,
        run.getAs("model_id"), run.getAs("model_version"), run.getAs("kernel"), run.getAs("kernel_id"),
        run.getAs("precision"), card.path("workload").path("dim").asInt(), card.path("workload").path("outputs_per_row").asInt(),
        run.<Long>getAs("rows_in"), run.<Long>getAs("rows_scored"), run.<Long>getAs("rows_rejected"), Map.of(),
        energy, Math.round(figures.path("wall_seconds").asDouble(0) * 1e9), true,
        dev.joule.jobs.score.QualityGate.Outcome.fromJson(card.path("quality_gate")));
  }
}
