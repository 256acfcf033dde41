package dev.joule.bridge.vector;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * JDK Vector API implementation. Only loaded (reflectively, by {@link VectorOpsProvider}) when the
 * {@code jdk.incubator.vector} module is in the boot layer, so the rest of the bridge never links
 * against it.
 *
 * <p>int8 widens the way Lucene's {@code PanamaVectorUtilSupport} does: a quarter-width byte
 * vector is widened to shorts (the product of two int8 fits in a short, even -128 * -128), then
 * to ints at full width, so on 512-bit hardware 16 bytes → 16 shorts → 16 ints per step. Two
 * accumulators hide the add latency.
 */
final class PanamaVectorOps implements VectorOps {

  private static final VectorSpecies<Float> FLOAT = FloatVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Integer> INT = IntVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Short> SHORT =
      ShortVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(INT.vectorBitSize() / 2));
  private static final VectorSpecies<Byte> BYTE =
      ByteVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(INT.vectorBitSize() / 4));

  /** The provider refuses hardware narrower than this: a 64-bit byte step gains nothing. */
  static final int MIN_BITS = 256;

  PanamaVectorOps() {
    if (INT.vectorBitSize() < MIN_BITS) {
      throw new UnsupportedOperationException(
          "preferred vector size is " + INT.vectorBitSize() + " bits, below " + MIN_BITS);
    }
  }

  static int preferredBits() {
    return INT.vectorBitSize();
  }

  @Override
  public String name() {
    return "panama-" + INT.vectorBitSize();
  }

  @Override
  public float dotF32(float[] a, int aOff, float[] b, int bOff, int len) {
    int step = FLOAT.length();
    int i = 0;
    float sum = 0f;
    if (len >= 2 * step) {
      FloatVector acc1 = FloatVector.zero(FLOAT);
      FloatVector acc2 = FloatVector.zero(FLOAT);
      int bound = len - len % (2 * step);
      for (; i < bound; i += 2 * step) {
        acc1 = FloatVector.fromArray(FLOAT, a, aOff + i)
            .fma(FloatVector.fromArray(FLOAT, b, bOff + i), acc1);
        acc2 = FloatVector.fromArray(FLOAT, a, aOff + i + step)
            .fma(FloatVector.fromArray(FLOAT, b, bOff + i + step), acc2);
      }
      sum = acc1.add(acc2).reduceLanes(VectorOperators.ADD);
    }
    for (; i < len; i++) {
      sum += a[aOff + i] * b[bOff + i];
    }
    return sum;
  }

  @Override
  public int dotI8(byte[] a, int aOff, byte[] b, int bOff, int len) {
    int step = BYTE.length();
    int i = 0;
    int sum = 0;
    if (len >= 2 * step) {
      IntVector acc1 = IntVector.zero(INT);
      IntVector acc2 = IntVector.zero(INT);
      int bound = len - len % (2 * step);
      for (; i < bound; i += 2 * step) {
        acc1 = acc1.add(mulWiden(a, aOff + i, b, bOff + i));
        acc2 = acc2.add(mulWiden(a, aOff + i + step, b, bOff + i + step));
      }
      sum = acc1.add(acc2).reduceLanes(VectorOperators.ADD);
    }
    for (; i < len; i++) {
      sum += a[aOff + i] * b[bOff + i];
    }
    return sum;
  }

  private static IntVector mulWiden(byte[] a, int aOff, byte[] b, int bOff) {
    ShortVector va = (ShortVector) ByteVector.fromArray(BYTE, a, aOff)
        .convertShape(VectorOperators.B2S, SHORT, 0);
    ShortVector vb = (ShortVector) ByteVector.fromArray(BYTE, b, bOff)
        .convertShape(VectorOperators.B2S, SHORT, 0);
    return (IntVector) va.mul(vb).convertShape(VectorOperators.S2I, INT, 0);
  }
}
