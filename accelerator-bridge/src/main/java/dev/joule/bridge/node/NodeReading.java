package dev.joule.bridge.node;

import dev.joule.bridge.energy.EnergyFigure;
import java.io.Serializable;
import java.util.List;

/**
 * What a node says about the work of one batch: where it ran, with which implementation, the CPU
 * time it spent in the kernel, and, for a remote node, its own energy figures for the batch.
 *
 * @param nodeEnergy the node's figures for this batch ({@link NodeEnergy}): its thread CPU time as
 *     an estimate, and a measured device's share where the node has a counter; empty when the
 *     kernel ran on the caller's thread (in-process: the task's own CPU time already holds it)
 */
public record NodeReading(String nodeId, String vectorOps, long kernelCpuNanos, long kernelWallNanos,
    int rows, long bytesIn, long bytesOut, List<EnergyFigure> nodeEnergy) implements Serializable {

  public NodeReading {
    nodeEnergy = List.copyOf(nodeEnergy);
  }

  /** Whether the node measured this batch with a device counter (its figures hold a measured one). */
  public boolean measured() {
    return nodeEnergy.stream().anyMatch(f -> f.method().measured());
  }
}
