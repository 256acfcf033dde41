package dev.joule.bridge.energy.meter;

import dev.joule.bridge.energy.OpsBytesModel;

/**
 * What a span of work did, for the estimators.
 *
 * @param threadCpuNanos CPU time of the thread that did the work
 * @param wallNanos wall time of the span
 * @param bytesMoved bytes the work read, sent and wrote, for the DRAM traffic term of the estimate
 * @param counted operations and bytes, for the ops/bytes model
 */
public record Workload(long threadCpuNanos, long wallNanos, long bytesMoved, OpsBytesModel.Work counted) {}
