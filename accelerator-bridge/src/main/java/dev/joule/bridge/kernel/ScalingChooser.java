package dev.joule.bridge.kernel;

import java.util.EnumMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Picks a {@link WeightScaling} for a weight matrix by measuring each candidate's output error on
 * calibration rows. Per-channel is the cheaper one (integer dots on int8 rows); column-channel
 * makes the kernel take fp32 rows, four times the bytes. So column-channel is chosen only where
 * per-channel's error is over {@value #ERROR_BUDGET} and column-channel cuts it at least
 * {@value #REQUIRED_GAIN}×. Measured with probe rows: per-channel gives 0.005–0.011 at int8 and
 * 0.08–0.14 at int4 on Gaussian heads of 10–100 classes (gain of column-channel 1.0–2.2×; 3–5
 * classes: 0.012–0.015 at int8, gain up to 4.7×), 0.17–0.28 at int8 and 0.82–0.97 at int4 on
 * heads fitted to raw features (the digits set, the planted set of PlantedOutliersTest; gain
 * 10–55×). On rows of the planted set itself per-channel's int8 error is lower (0.04: its rare
 * columns are rarely active) while its top-1 agreement is 0.85–0.95: hence a budget well under
 * that, above what healthy heads reach.
 *
 * <p>Over rows divided by dimension scales (a codes table's, a {@code joule embed} table's), int4
 * takes the lower error: such rows arrive as int8 or int4 codes whichever the scaling, so
 * column-channel costs no row bytes there, and int4 heads rescore their near ties
 * ({@link NearTies}), whose error model held for column-channel weights on the Debian head (a
 * top-2 pair's error within 2.95 σ_row for 99.9 % of rows) and not for per-channel ones folded
 * with the scales (12.7 σ_row: the weights that round to 0 leave errors aligned with the data;
 * 0.988 agreement against 0.996).
 *
 * <p>Calibration rows are the caller's (a sample of what will be scored) or, without them, two
 * deterministic probe sets, and the worse of the two counts: isotropic N(0,1) rows (inputs on
 * one scale, like embeddings) and rows N(0,1)/t_c, each column on the scale its largest weight
 * implies (like the raw features of a model fitted on standardized ones).
 */
public final class ScalingChooser {

  /** Per-channel error (relative, see {@link ScalingChoice}) at or below which it is kept. */
  static final double ERROR_BUDGET = 0.02;
  /** How many times smaller column-channel's error must be: the row bytes it costs. */
  static final double REQUIRED_GAIN = 4;
  static final int PROBE_ROWS = 64;
  private static final long PROBE_SEED = 0x5ca1eL;

  private final float[] calibration; // row-major rows of dim, or null: probes
  private final int calibrationRows;

  private ScalingChooser(float[] calibration, int calibrationRows) {
    this.calibration = calibration;
    this.calibrationRows = calibrationRows;
  }

  /** Measures on the probe sets. */
  public static ScalingChooser withProbes() {
    return new ScalingChooser(null, 0);
  }

  /** Measures on {@code rows} rows of the caller's, row-major. */
  public static ScalingChooser withRows(float[] rows, int n) {
    if (n < 1) {
      throw new IllegalArgumentException("calibration needs at least one row");
    }
    return new ScalingChooser(rows.clone(), n);
  }

  /** The weights {@code w} (outputs × dim, row-major) quantized at {@code p}, scaled as measured best. */
  public Chosen choose(Precision p, int outputs, int dim, float[] w) {
    return choose(p, outputs, dim, w, null);
  }

  /**
   * As above, for a kernel whose rows are divided by {@code rowScales} ({@code w} already folded):
   * at int8 its weights stay fp32 ({@link WeightScaling#UNQUANTIZED}). Such rows are int8 codes
   * from a codes table; their bytes are the saving, and int8 weights on top cost agreement the
   * rows alone do not (on the Debian head: 0.993 against 0.996, docs/quantization.md). The two
   * quantized scalings are still measured, for the record.
   */
  public Chosen choose(Precision p, int outputs, int dim, float[] w, DimensionScales rowScales) {
    Chosen measured = measure(p, outputs, dim, w, rowScales != null);
    if (rowScales == null || p != Precision.INT8) {
      return measured;
    }
    return new Chosen(ScaledWeights.quantize(WeightScaling.UNQUANTIZED, p, outputs, dim, w),
        new ScalingChoice(WeightScaling.UNQUANTIZED, "dimension-scaled-rows+" + measured.choice().calibration(),
            measured.choice().outputError()));
  }

  private Chosen measure(Precision p, int outputs, int dim, float[] w, boolean dividedRows) {
    if (p != Precision.INT8 && p != Precision.INT4) {
      // fp32 weights are not scaled; binary ones are refused by the kernels, per-channel or not.
      return new Chosen(ScaledWeights.quantize(WeightScaling.PER_CHANNEL, p, outputs, dim, w),
          new ScalingChoice(WeightScaling.PER_CHANNEL, p.label(), Map.of()));
    }
    if (calibration != null && calibration.length < (long) calibrationRows * dim) {
      throw new IllegalArgumentException("calibration holds " + calibration.length + " values, not "
          + calibrationRows + " rows of dim " + dim);
    }
    double[] isotropic = calibration != null ? toDouble(calibration, calibrationRows * dim) : isotropicProbes(dim);
    double[] columnScaled = calibration != null ? null
        : columnScaledProbes(ScaledWeights.columnMax(w, outputs, dim), dim);
    int n = calibration != null ? calibrationRows : PROBE_ROWS;
    Map<WeightScaling, Double> errors = new EnumMap<>(WeightScaling.class);
    Map<WeightScaling, ScaledWeights> quantized = new EnumMap<>(WeightScaling.class);
    for (WeightScaling s : new WeightScaling[] {WeightScaling.PER_CHANNEL, WeightScaling.COLUMN_CHANNEL}) {
      ScaledWeights q = ScaledWeights.quantize(s, p, outputs, dim, w);
      quantized.put(s, q);
      double e = outputError(w, q, isotropic, n);
      // Rounded as recorded, so the record alone explains the decision.
      errors.put(s, ScalingChoice.rounded(columnScaled == null ? e : Math.max(e, outputError(w, q, columnScaled, n))));
    }
    double perChannel = errors.get(WeightScaling.PER_CHANNEL);
    double columnChannel = errors.get(WeightScaling.COLUMN_CHANNEL);
    WeightScaling pick = p == Precision.INT4 && dividedRows
        ? (columnChannel <= perChannel ? WeightScaling.COLUMN_CHANNEL : WeightScaling.PER_CHANNEL)
        : perChannel > ERROR_BUDGET && columnChannel * REQUIRED_GAIN <= perChannel
            ? WeightScaling.COLUMN_CHANNEL : WeightScaling.PER_CHANNEL;
    String source = calibration != null ? "rows-" + calibrationRows : "probes";
    return new Chosen(quantized.get(pick), new ScalingChoice(pick, source, errors));
  }

  /** Quantized weights with the record of how their scaling was chosen. */
  public record Chosen(ScaledWeights weights, ScalingChoice choice) {}

  /**
   * {@code ‖Ŵx − Wx‖ / ‖Wx − mean_j(Wx)‖} over all the rows, in double: the logit error against
   * the logits' spread across outputs (what a softmax or arg-max sees). A single output
   * (logistic, raw) is measured against {@code ‖Wx‖}. Pooled over rows, so it is stable on few
   * rows (a per-row ratio is dominated by the rows that happen to be near ties).
   */
  static double outputError(float[] w, ScaledWeights q, double[] x, int n) {
    int outputs = q.outputs();
    int dim = q.dim();
    float[] wq = new float[outputs * dim];
    for (int j = 0; j < outputs; j++) {
      for (int c = 0; c < dim; c++) {
        wq[j * dim + c] = q.dequantized(j, c);
      }
    }
    double err = 0;
    double spread = 0;
    double[] z = new double[outputs];
    for (int r = 0; r < n; r++) {
      double mean = 0;
      for (int j = 0; j < outputs; j++) {
        double exact = 0;
        double approx = 0;
        for (int c = 0; c < dim; c++) {
          exact += w[j * dim + c] * x[r * dim + c];
          approx += wq[j * dim + c] * x[r * dim + c];
        }
        z[j] = exact;
        mean += exact / outputs;
        err += (approx - exact) * (approx - exact);
      }
      for (int j = 0; j < outputs; j++) {
        double d = outputs == 1 ? z[j] : z[j] - mean;
        spread += d * d;
      }
    }
    return spread == 0 ? 0 : Math.sqrt(err / spread);
  }

  static double[] isotropicProbes(int dim) {
    SplittableRandom rnd = new SplittableRandom(PROBE_SEED);
    double[] x = new double[PROBE_ROWS * dim];
    for (int i = 0; i < x.length; i++) {
      x[i] = rnd.nextGaussian();
    }
    return x;
  }

  /** Rows N(0,1)/t_c (in double: t_c may be tiny), 0 in columns whose weights are all 0. */
  static double[] columnScaledProbes(float[] t, int dim) {
    double[] x = isotropicProbes(dim);
    for (int r = 0; r < PROBE_ROWS; r++) {
      for (int c = 0; c < dim; c++) {
        x[r * dim + c] = t[c] == 0f ? 0 : x[r * dim + c] / t[c];
      }
    }
    return x;
  }

  private static double[] toDouble(float[] v, int n) {
    double[] d = new double[n];
    for (int i = 0; i < n; i++) {
      d[i] = v[i];
    }
    return d;
  }
}
