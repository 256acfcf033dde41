package dev.joule.jobs.score;

import dev.joule.jobs.report.EnergySummary;
import java.util.Map;

/**
 * What one score run did, for the claim card, the runs table and tests.
 *
 * @param precision the precision published (the quality gate may have fallen back from the one asked)
 * @param gate the quality gate's decision; null for runs read back from the runs table
 */
public record ScoreResult(String runId, String input, long inputVersion, String output,
    String modelId, String modelVersion, String kernel, String kernelId, String precision,
    int dim, int outputs, long rowsIn, long rowsScored, long rowsRejected,
    Map<String, Long> rejectReasons, EnergySummary energy, long wallNanos, boolean committed,
    QualityGate.Outcome gate) {}
