package dev.joule.bridge.vector;

/** Plain loops: the reference implementation. Slow on purpose-free hardware, exact by construction. */
public final class ScalarVectorOps implements VectorOps {

  public static final ScalarVectorOps INSTANCE = new ScalarVectorOps();

  private ScalarVectorOps() {}

  @Override
  public String name() {
    return "scalar";
  }

  @Override
  public float dotF32(float[] a, int aOff, float[] b, int bOff, int len) {
    float sum = 0f;
    for (int i = 0; i < len; i++) {
      sum += a[aOff + i] * b[bOff + i];
    }
    return sum;
  }

  @Override
  public int dotI8(byte[] a, int aOff, byte[] b, int bOff, int len) {
    int sum = 0;
    for (int i = 0; i < len; i++) {
      sum += a[aOff + i] * b[bOff + i];
    }
    return sum;
  }
}
