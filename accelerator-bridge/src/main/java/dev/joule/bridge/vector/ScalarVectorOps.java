package dev.joule.bridge.vector;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/** Plain loops: the reference implementation. Slow on purpose-free hardware, exact by construction. */
public final class ScalarVectorOps implements VectorOps {

  public static final ScalarVectorOps INSTANCE = new ScalarVectorOps();

  /** Reads a little-endian long from a byte array at any offset. */
  static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

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

  @Override
  public int dotI4Packed(byte[] a, int aOff, byte[] b, int bOff, int nBytes) {
    int sum = 0;
    for (int i = 0; i < nBytes; i++) {
      byte x = a[aOff + i];
      byte y = b[bOff + i];
      sum += ((byte) (x << 4) >> 4) * ((byte) (y << 4) >> 4) + (x >> 4) * (y >> 4);
    }
    return sum;
  }

  @Override
  public int dotI8I4(byte[] q8, int qOff, byte[] p4, int pOff, int dim) {
    int half = (dim + 1) / 2;
    int sum = 0;
    for (int b = 0; b < half; b++) {
      byte p = p4[pOff + b];
      sum += q8[qOff + b] * ((byte) (p << 4) >> 4);
      if (b + half < dim) {
        sum += q8[qOff + b + half] * (p >> 4);
      }
    }
    return sum;
  }

  @Override
  public float dotF32I8(float[] u, int uOff, byte[] q, int qOff, int len) {
    float sum = 0f;
    for (int i = 0; i < len; i++) {
      sum += u[uOff + i] * q[qOff + i];
    }
    return sum;
  }

  @Override
  public float dotF32I4(float[] u, int uOff, byte[] p4, int pOff, int dim) {
    int half = (dim + 1) / 2;
    float sum = 0f;
    for (int b = 0; b < half; b++) {
      byte p = p4[pOff + b];
      sum += u[uOff + b] * ((byte) (p << 4) >> 4);
      if (b + half < dim) {
        sum += u[uOff + b + half] * (p >> 4);
      }
    }
    return sum;
  }

  @Override
  public void scaleF32(float[] x, int xOff, float s, float[] t, float[] out, int len) {
    for (int i = 0; i < len; i++) {
      out[i] = x[xOff + i] * s * t[i];
    }
  }

  @Override
  public void scaleI8(byte[] q, int qOff, float s, float[] t, float[] out, int len) {
    for (int i = 0; i < len; i++) {
      out[i] = q[qOff + i] * s * t[i];
    }
  }

  @Override
  public int hamming(byte[] a, int aOff, byte[] b, int bOff, int nWords) {
    int h = 0;
    for (int w = 0; w < nWords; w++) {
      h += Long.bitCount((long) LONGS.get(a, aOff + 8 * w) ^ (long) LONGS.get(b, bOff + 8 * w));
    }
    return h;
  }
}
