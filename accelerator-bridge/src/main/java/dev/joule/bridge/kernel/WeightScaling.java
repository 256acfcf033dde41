package dev.joule.bridge.kernel;

/**
 * How a quantized weight matrix W[outputs][dim] is scaled. Carried in the kernel payload, so a
 * kernel's id changes with it.
 *
 * <ul>
 *   <li>{@code per-channel}: one scale per output row, {@code w_jc ≈ s_j·q_jc}; rows dotted
 *       exactly in integers against rows quantized per row. Cheapest; right for embedding heads,
 *       where every input column has weights of about the same size.
 *   <li>{@code column-channel}: a scale per input column times one per output row,
 *       {@code w_jc ≈ s_j·t_c·q_jc} with {@code t_c = max_j |w_jc|}. A head fitted on raw,
 *       unnormalized features (MLlib standardizes internally and maps the weights back) has
 *       weights whose size is set by the column: rarely active inputs get weights hundreds of
 *       times the median, and one scale per row rounds the rest to 0. Dividing the columns out
 *       first gives every column the full code range. The kernel folds {@code t} into the
 *       activations ({@code u = x∘t}, in fp32) and dots {@code u} against the codes, so it takes
 *       fp32 rows (the rescale would add a second rounding to int8 rows; on sparse count rows
 *       that rounding alone cost 1–2 points of top-1 agreement) and still reads int8 / int4 rows.
 *   <li>{@code unquantized}: the weights stay fp32 and only the rows are quantized (W32A8):
 *       {@code y_j = s_x·Σ q_xc w_jc}. For int8 kernels; the rows' bytes are what int8 saves, and
 *       a head's weights are few. Where int8 weights cost agreement that the int8 rows alone do
 *       not (a weak 58-class head on real sentence embeddings: per-channel 0.993, rows alone
 *       0.996), this keeps the rows' saving without the weights' error.
 * </ul>
 */
public enum WeightScaling {
  PER_CHANNEL("per-channel"),
  COLUMN_CHANNEL("column-channel"),
  UNQUANTIZED("unquantized");

  private final String label;

  WeightScaling(String label) {
    this.label = label;
  }

  public String label() {
    return label;
  }

  /**
   * The rows a kernel with weights scaled this way asks for: column-channel folds the column
   * scales into fp32 rows, except rows divided by dimension scales, which arrive as int8 codes (a
   * codes table's, or quantized on the fly after the division: the tiny dimensions that need
   * fp32 rows otherwise are on the scale of the others there); per-channel keeps the kernel's
   * own choice.
   */
  public Precision queryPrecision(Precision perChannel, boolean dividedRows) {
    return this != COLUMN_CHANNEL ? perChannel : dividedRows ? Precision.INT8 : Precision.FP32;
  }

  /**
   * Whether stored rows at {@code p} can be scored: column-channel reads fp32, int8 and int4 rows;
   * unquantized reads int8 and int4 codes.
   */
  public boolean reads(Precision p, boolean perChannel) {
    return switch (this) {
      case COLUMN_CHANNEL -> p != Precision.BINARY;
      case UNQUANTIZED -> p == Precision.INT8 || p == Precision.INT4;
      default -> perChannel;
    };
  }

  public static WeightScaling parse(String s) {
    for (WeightScaling w : values()) {
      if (w.label.equals(s)) {
        return w;
      }
    }
    throw new IllegalArgumentException("unknown weight scaling '" + s + "' (supported: per-channel, column-channel, unquantized)");
  }

  @Override
  public String toString() {
    return label;
  }
}
