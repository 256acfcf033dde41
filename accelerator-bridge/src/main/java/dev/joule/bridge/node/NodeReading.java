package dev.joule.bridge.node;

import java.io.Serializable;

/**
 * What a node says about the work of one batch: where it ran, with which implementation, and
 * the CPU time it spent in the kernel (the executor turns this into energy with its estimator).
 */
public record NodeReading(String nodeId, String vectorOps, long kernelCpuNanos, long kernelWallNanos,
    int rows, long bytesIn, long bytesOut) implements Serializable {}
