package dev.joule.bridge.energy;

import com.typesafe.config.Config;
import java.io.Serializable;
import java.util.List;

/**
 * Energy modelled from counted work: multiply-accumulates by precision, values quantized, bytes
 * read from DRAM and bytes read from on-chip SRAM, each × a per-op or per-byte energy from
 * Horowitz (ISSCC 2014, 45 nm). Absolute values are for a 45 nm process; use the figures as
 * relative (fp32 vs int8, compute vs data movement), which is how the claim card shows them.
 */
public record OpsBytesModel(double fp32MacPj, double int8MacPj, double quantizePj,
    double dramPjPerByteLow, double dramPjPerByteHigh, double sramPjPerByteLow,
    double sramPjPerByteHigh, String source) implements Serializable {

  public static OpsBytesModel fromConfig(Config c) {
    return new OpsBytesModel(
        c.getDouble("fp32-mult-pj") + c.getDouble("fp32-add-pj"),
        c.getDouble("int8-mult-pj") + c.getDouble("int32-add-pj"),
        c.getDouble("fp32-mult-pj"),
        c.getDouble("dram-pj-per-64bit.low") / 8,
        c.getDouble("dram-pj-per-64bit.high") / 8,
        c.getDouble("sram-pj-per-64bit.low") / 8,
        c.getDouble("sram-pj-per-64bit.high") / 8,
        c.hasPath("source") ? c.getString("source") : "");
  }

  /** Work counted for one partition. */
  public record Work(long fp32Macs, long int8Macs, long valuesQuantized, long dramBytes,
      long sramBytes) implements Serializable {}

  public List<EnergyFigure> model(Work w) {
    double computePj = w.fp32Macs() * fp32MacPj + w.int8Macs() * int8MacPj
        + w.valuesQuantized() * quantizePj;
    double compute = computePj * 1e-12;
    double dramLow = w.dramBytes() * dramPjPerByteLow * 1e-12;
    double dramHigh = w.dramBytes() * dramPjPerByteHigh * 1e-12;
    double sramLow = w.sramBytes() * sramPjPerByteLow * 1e-12;
    double sramHigh = w.sramBytes() * sramPjPerByteHigh * 1e-12;
    // On-chip parameter reads are counted with compute ("cpu"); off-chip bytes are "dram".
    return List.of(
        new EnergyFigure("cpu", EnergyMethod.MODELLED_OPS_BYTES, "exclusive",
            compute + (sramLow + sramHigh) / 2, compute + sramLow, compute + sramHigh),
        new EnergyFigure("dram", EnergyMethod.MODELLED_OPS_BYTES, "exclusive",
            (dramLow + dramHigh) / 2, dramLow, dramHigh));
  }
}
