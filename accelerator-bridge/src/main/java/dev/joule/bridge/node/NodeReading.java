package dev.joule.bridge.node;

import dev.joule.bridge.energy.EnergyFigure;
import java.io.Serializable;

/**
 * What a node says about the work of one batch: where it ran, with which implementation, the CPU
 * time it spent in the kernel, and, for a remote node, its own energy figure for the batch.
 *
 * @param nodeEnergy the node's energy for this batch with its method, or null when the kernel ran
 *     on the caller's thread (in-process: the task's own CPU time already holds it)
 */
public record NodeReading(String nodeId, String vectorOps, long kernelCpuNanos, long kernelWallNanos,
    int rows, long bytesIn, long bytesOut, EnergyFigure nodeEnergy) implements Serializable {}
