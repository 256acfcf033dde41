package dev.joule.bridge.energy.meter;

import dev.joule.bridge.energy.OpsBytesModel;

/**
 * What a span of work did, for the estimators.
 *
 * @param threadCpuNanos CPU time of the thread that did the work
 * @param wallNanos wall time of the span
 * @param memoryGbAttributed memory held for the work, for the DRAM term of the CPU-time estimate
 * @param counted operations and bytes, for the ops/bytes model
 */
public record Workload(long threadCpuNanos, long wallNanos, double memoryGbAttributed,
    OpsBytesModel.Work counted) {}
