package dev.joule.bridge.kernel;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A kernel's parameters as sorted string metadata plus named binary blobs (little-endian), the
 * form {@link KernelCodec} writes as Arrow IPC. Deterministic: the same kernel always gives the
 * same bytes, hence the same id.
 */
public final class KernelPayload {
  private final Map<String, String> meta = new TreeMap<>();
  private final Map<String, byte[]> blobs = new LinkedHashMap<>();

  public KernelPayload meta(String key, Object value) {
    meta.put(key, String.valueOf(value));
    return this;
  }

  public Map<String, String> meta() {
    return meta;
  }

  public String get(String key) {
    String v = meta.get(key);
    if (v == null) {
      throw new IllegalArgumentException("kernel metadata lacks '" + key + "'");
    }
    return v;
  }

  public int getInt(String key) {
    return Integer.parseInt(get(key));
  }

  public Map<String, byte[]> blobs() {
    return blobs;
  }

  /** Whether a blob of that name is present. */
  public boolean has(String name) {
    return blobs.containsKey(name);
  }

  public byte[] blob(String name) {
    byte[] b = blobs.get(name);
    if (b == null) {
      throw new IllegalArgumentException("kernel payload lacks '" + name + "'");
    }
    return b;
  }

  public KernelPayload floats(String name, float[] v) {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    blobs.put(name, b.array());
    return this;
  }

  public float[] floats(String name) {
    byte[] raw = blob(name);
    float[] v = new float[raw.length / 4];
    ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
    return v;
  }

  public KernelPayload strings(String name, List<String> v) {
    int size = 4;
    List<byte[]> enc = new ArrayList<>();
    for (String s : v) {
      byte[] e = s.getBytes(StandardCharsets.UTF_8);
      enc.add(e);
      size += 4 + e.length;
    }
    ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    b.putInt(v.size());
    for (byte[] e : enc) {
      b.putInt(e.length).put(e);
    }
    blobs.put(name, b.array());
    return this;
  }

  public List<String> strings(String name) {
    ByteBuffer b = ByteBuffer.wrap(blob(name)).order(ByteOrder.LITTLE_ENDIAN);
    int n = b.getInt();
    List<String> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      byte[] e = new byte[b.getInt()];
      b.get(e);
      out.add(new String(e, StandardCharsets.UTF_8));
    }
    return out;
  }

  /** Stores rows with their precision; the fp32 values or the codes, scales and norms. */
  public KernelPayload rows(String name, EncodedRows r) {
    meta(name + ".precision", r.precision().label());
    meta(name + ".rows", r.rows());
    meta(name + ".dim", r.dim());
    if (r.precision() == Precision.FP32) {
      float[] v = r.values().length == r.rows() * r.dim() ? r.values()
          : java.util.Arrays.copyOf(r.values(), r.rows() * r.dim());
      floats(name + ".values", v);
    } else {
      byte[] c = r.codes().length == r.rows() * r.stride() ? r.codes()
          : java.util.Arrays.copyOf(r.codes(), r.rows() * r.stride());
      blobs.put(name + ".codes", c);
      floats(name + ".scales", java.util.Arrays.copyOf(r.scales(), r.rows()));
      floats(name + ".norms", java.util.Arrays.copyOf(r.norms(), r.rows()));
    }
    return this;
  }

  public EncodedRows rows(String name) {
    Precision p = Precision.parse(get(name + ".precision"));
    int rows = getInt(name + ".rows");
    int dim = getInt(name + ".dim");
    if (p == Precision.FP32) {
      return EncodedRows.fp32(rows, dim, floats(name + ".values"));
    }
    return EncodedRows.quantized(p, rows, dim, blob(name + ".codes"), floats(name + ".scales"),
        floats(name + ".norms"));
  }
}
