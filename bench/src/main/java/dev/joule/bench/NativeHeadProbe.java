package dev.joule.bench;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.kernel.LinearKernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;

/**
 * Issue 18's "register-blocked head kernel or a native GEMM (ONNX Runtime's MLAS uses VNNI):
 * measure which". One thread, the 10-class 768-d int8 head's dots for batches of 8,192 int8 rows,
 * the same rows and weight codes for every variant, best of several passes:
 * <ul>
 *   <li>Joule's blocked dots ({@link VectorOps#headDotsI8}) and the whole kernel (scales, bias, softmax);
 *   <li>ONNX Runtime's {@code MatMulInteger} with int8 rows (S8S8), rows copied into a direct buffer;
 *   <li>the same with the rows as uint8 (code XOR 0x80, zero point 128: MLAS's U8S8 kernels, which use
 *       VNNI where the CPU has it), converted in a heap array, then copied.
 * </ul>
 * The model is written here as ONNX protobuf bytes (a few fields: no onnx library on Maven Central
 * for Java). Results are checked equal to Joule's dots before timing.
 *
 * <p>Usage: {@code bench/run-main.sh dev.joule.bench.NativeHeadProbe [--batches N]}.
 */
public final class NativeHeadProbe {

  static final int DIM = DotBench.DIM;
  static final int CLASSES = 10;
  static final int BATCH = 8192;

  private NativeHeadProbe() {}

  public static void main(String[] args) throws Exception {
    int batches = args.length > 1 && args[0].equals("--batches") ? Integer.parseInt(args[1]) : 32;
    LinearKernel kernel = LinearKernel.fromWeights(DotBench.headWeights(), new float[CLASSES], DotBench.headLabels(),
        Activation.SOFTMAX, Precision.INT8, dev.joule.bridge.kernel.WeightScaling.PER_CHANNEL);
    byte[] w = kernel.weights().codes();
    float[] wf = new float[w.length];
    byte[] wT = new byte[w.length];
    for (int j = 0; j < CLASSES; j++) {
      for (int i = 0; i < DIM; i++) {
        wf[j * DIM + i] = w[j * DIM + i];
        wT[i * CLASSES + j] = w[j * DIM + i];
      }
    }
    EncodedRows[] rows = new EncodedRows[batches];
    for (int b = 0; b < batches; b++) {
      rows[b] = Rows.make(Precision.INT8, BATCH, DIM, 100 + b);
    }
    VectorOps ops = VectorOpsProvider.get();
    float[] y = new float[BATCH * CLASSES];
    KernelOutput out = kernel.newOutput();

    OrtEnvironment env = OrtEnvironment.getEnvironment();
    OrtSession.SessionOptions so = new OrtSession.SessionOptions();
    so.setIntraOpNumThreads(1);
    so.setInterOpNumThreads(1);
    ByteBuffer buf = ByteBuffer.allocateDirect(BATCH * DIM).order(ByteOrder.nativeOrder());
    try (OrtSession s8 = env.createSession(model(wT, false), so); OrtSession u8 = env.createSession(model(wT, true), so)) {
      for (boolean unsigned : new boolean[] {false, true}) {
        int[] ort = runOrt(env, unsigned ? u8 : s8, rows[0], buf, unsigned);
        ops.headDotsI8(rows[0].codes(), 0, BATCH, DIM, wf, CLASSES, y, 0);
        for (int k = 0; k < y.length; k++) {
          if (ort[k] != (int) y[k]) {
            throw new AssertionError("ONNX Runtime " + (unsigned ? "U8S8" : "S8S8") + " differs at " + k);
          }
        }
      }
      String[] names = {"Joule blocked dots (VectorOps.headDotsI8)", "Joule int8 head kernel (dots, scales, bias, softmax)",
          "ONNX Runtime MatMulInteger S8S8 (rows copied to a direct buffer)",
          "ONNX Runtime MatMulInteger U8S8 (rows XOR 0x80, then into a direct buffer; zero point 128)"};
      double[] best = new double[names.length];
      for (int pass = 0; pass < 6; pass++) {
        for (int v = 0; v < names.length; v++) {
          long t0 = System.nanoTime();
          for (EncodedRows b : rows) {
            switch (v) {
              case 0 -> ops.headDotsI8(b.codes(), 0, BATCH, DIM, wf, CLASSES, y, 0);
              case 1 -> kernel.score(b, out, ops);
              case 2 -> runOrt(env, s8, b, buf, false);
              default -> runOrt(env, u8, b, buf, true);
            }
          }
          double rps = (double) batches * BATCH / ((System.nanoTime() - t0) / 1e9);
          if (pass > 0) {
            best[v] = Math.max(best[v], rps);
          }
        }
      }
      System.out.printf(Locale.ROOT, "%nMachine: %s, vector ops %s, one thread, %d batches of %,d int8 rows, 768-d, 10 classes; best of 5 passes%n%n",
          KernelBench.cpuModel(), ops.name(), batches, BATCH);
      System.out.println("| variant | rows/s | vs Joule's blocked dots |\n| --- | --- | --- |");
      for (int v = 0; v < names.length; v++) {
        System.out.printf(Locale.ROOT, "| %s | %,.0f | %.2f |%n", names[v], best[v], best[v] / best[0]);
      }
    }
  }

  private static final ThreadLocal<byte[]> SHIFTED = ThreadLocal.withInitial(() -> new byte[BATCH * DIM]);

  private static int[] runOrt(OrtEnvironment env, OrtSession s, EncodedRows b, ByteBuffer buf, boolean unsigned)
      throws Exception {
    buf.clear();
    byte[] codes = b.codes();
    int n = b.rows() * DIM;
    if (unsigned) {
      byte[] shifted = SHIFTED.get();
      for (int i = 0; i < n; i++) {
        shifted[i] = (byte) (codes[i] ^ 0x80); // a loop C2 vectorizes; then one bulk copy
      }
      buf.put(shifted, 0, n);
    } else {
      buf.put(codes, 0, n);
    }
    buf.flip();
    try (OnnxTensor t = OnnxTensor.createTensor(env, buf, new long[] {b.rows(), DIM},
        unsigned ? OnnxJavaType.UINT8 : OnnxJavaType.INT8); OrtSession.Result r = s.run(Map.of("A", t))) {
      java.nio.IntBuffer ib = ((OnnxTensor) r.get(0)).getIntBuffer();
      int[] y = new int[ib.remaining()];
      ib.get(y);
      return y;
    }
  }

  // ---- ONNX protobuf, the few fields a one-node model needs (onnx.proto3 field numbers) ----

  static final int UINT8 = 2;
  static final int INT8 = 3;
  static final int INT32 = 6;

  /** Y[N, 10] int32 = MatMulInteger(A[N, 768], B[768, 10] int8 [, a_zero_point = 128]). */
  static byte[] model(byte[] wT, boolean unsigned) {
    Pb node = new Pb().str(1, "A").str(1, "B");
    if (unsigned) {
      node.str(1, "azp");
    }
    node.str(2, "Y").str(3, "mm").str(4, "MatMulInteger");
    Pb graph = new Pb().msg(1, node).str(2, "head").msg(5, tensor("B", INT8, new long[] {DIM, CLASSES}, wT));
    if (unsigned) {
      graph.msg(5, tensor("azp", UINT8, new long[] {}, new byte[] {(byte) 128}));
    }
    graph.msg(11, valueInfo("A", unsigned ? UINT8 : INT8, DIM)).msg(12, valueInfo("Y", INT32, CLASSES));
    return new Pb().i64(1, 8).msg(8, new Pb().str(1, "").i64(2, 17)).msg(7, graph).bytes();
  }

  private static Pb tensor(String name, int type, long[] dims, byte[] raw) {
    Pb t = new Pb();
    for (long d : dims) {
      t.i64(1, d);
    }
    return t.i64(2, type).str(8, name).raw(9, raw);
  }

  /** A [N, cols] tensor value: N symbolic. */
  private static Pb valueInfo(String name, int elem, int cols) {
    Pb shape = new Pb().msg(1, new Pb().str(2, "N")).msg(1, new Pb().i64(1, cols));
    return new Pb().str(1, name).msg(2, new Pb().msg(1, new Pb().i64(1, elem).msg(2, shape)));
  }

  /** Protobuf wire format: varints and length-delimited fields. */
  private static final class Pb {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    private Pb varint(long v) {
      while ((v & ~0x7FL) != 0) {
        out.write((int) ((v & 0x7F) | 0x80));
        v >>>= 7;
      }
      out.write((int) v);
      return this;
    }

    Pb i64(int field, long v) {
      return varint((long) field << 3).varint(v);
    }

    Pb raw(int field, byte[] v) {
      varint((long) field << 3 | 2).varint(v.length);
      out.write(v, 0, v.length);
      return this;
    }

    Pb str(int field, String s) {
      return raw(field, s.getBytes(StandardCharsets.UTF_8));
    }

    Pb msg(int field, Pb m) {
      return raw(field, m.bytes());
    }

    byte[] bytes() {
      return out.toByteArray();
    }
  }
}
