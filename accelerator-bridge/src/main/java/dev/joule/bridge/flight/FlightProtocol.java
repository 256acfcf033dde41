package dev.joule.bridge.flight;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.joule.bridge.energy.EnergyFigure;
import dev.joule.bridge.energy.EnergyMethod;
import dev.joule.bridge.node.NodeReading;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.flight.CallOption;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightDescriptor;
import org.apache.arrow.flight.SyncPutListener;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * The wire protocol between executors and a Flight accelerator node:
 *
 * <ul>
 *   <li>kernel push: {@code DoPut} on path {@code ["kernel", <sha-256>]}, a stream of
 *       {@code chunk: binary} batches holding the kernel's Arrow IPC bytes in order;
 *   <li>scoring: {@code DoExchange} on path {@code ["score", <sha-256>]}, one stream per
 *       partition; request batches in {@link dev.joule.bridge.BridgeBatches} layout, each answered
 *       in order by a response batch whose app metadata is the node's reading (JSON);
 *   <li>actions: {@code health} (JSON about the node) and {@code has-kernel} (body: the id;
 *       answer {@code true} or {@code false}).
 * </ul>
 */
public final class FlightProtocol {

  public static final String KERNEL = "kernel";
  public static final String SCORE = "score";
  public static final String HEALTH = "health";
  public static final String HAS_KERNEL = "has-kernel";
  /** Bytes of kernel per DoPut batch: well under gRPC's message limits. */
  public static final int CHUNK_BYTES = 1 << 20;

  static final ObjectMapper JSON = new ObjectMapper();

  private FlightProtocol() {}

  public static Schema chunkSchema() {
    return new Schema(List.of(Field.notNullable("chunk", ArrowType.Binary.INSTANCE)));
  }

  public static FlightDescriptor kernelPut(String kernelId) {
    return FlightDescriptor.path(KERNEL, kernelId);
  }

  public static FlightDescriptor scoreExchange(String kernelId) {
    return FlightDescriptor.path(SCORE, kernelId);
  }

  /** The kernel id a descriptor names after {@code verb}, or null if it names none. */
  static String kernelIdOf(FlightDescriptor d, String verb) {
    if (d == null || d.isCommand() || d.getPath().size() != 2 || !verb.equals(d.getPath().get(0))) {
      return null;
    }
    String id = d.getPath().get(1);
    return id.matches("[0-9a-f]{64}") ? id : null;
  }

  /**
   * Pushes kernel bytes under an id ({@code DoPut ["kernel", id]}, 1 MiB chunks) and waits for
   * the node's answer.
   *
   * @throws org.apache.arrow.flight.FlightRuntimeException with the node's refusal
   */
  public static void putKernel(FlightClient client, String id, byte[] bytes, BufferAllocator allocator,
      CallOption... options) {
    try (VectorSchemaRoot root = VectorSchemaRoot.create(chunkSchema(), allocator)) {
      SyncPutListener ack = new SyncPutListener();
      FlightClient.ClientStreamListener put = client.startPut(kernelPut(id), root, ack, options);
      VarBinaryVector chunk = (VarBinaryVector) root.getVector("chunk");
      for (int off = 0; off < bytes.length; off += CHUNK_BYTES) {
        chunk.reset();
        chunk.setSafe(0, bytes, off, Math.min(CHUNK_BYTES, bytes.length - off));
        chunk.setValueCount(1);
        root.setRowCount(1);
        put.putNext();
      }
      put.completed();
      try {
        put.getResult();
      } finally {
        ack.close();
      }
    }
  }

  static byte[] readingJson(NodeReading r) {
    ObjectNode o = JSON.createObjectNode();
    o.put("node", r.nodeId()).put("ops", r.vectorOps()).put("cpu_ns", r.kernelCpuNanos())
        .put("wall_ns", r.kernelWallNanos()).put("rows", r.rows()).put("bytes_in", r.bytesIn())
        .put("bytes_out", r.bytesOut());
    com.fasterxml.jackson.databind.node.ArrayNode energy = o.putArray("energy");
    for (EnergyFigure e : r.nodeEnergy()) {
      energy.addObject().put("component", e.component()).put("method", e.method().label())
          .put("attribution", e.attribution()).put("joules", e.joules()).put("joules_low", e.joulesLow())
          .put("joules_high", e.joulesHigh());
    }
    return o.toString().getBytes(StandardCharsets.UTF_8);
  }

  static NodeReading parseReading(byte[] json) {
    try {
      JsonNode o = JSON.readTree(json);
      List<EnergyFigure> energy = new ArrayList<>();
      JsonNode figures = o.get("energy");
      if (figures != null) {
        // A node from before figures were a list sends one object.
        for (JsonNode e : figures.isArray() ? figures : List.of(figures)) {
          energy.add(new EnergyFigure(e.get("component").asText(), method(e.get("method").asText()),
              e.get("attribution").asText(), e.get("joules").asDouble(), e.get("joules_low").asDouble(),
              e.get("joules_high").asDouble()));
        }
      }
      return new NodeReading(o.get("node").asText(), o.get("ops").asText(), o.get("cpu_ns").asLong(),
          o.get("wall_ns").asLong(), o.get("rows").asInt(), o.get("bytes_in").asLong(),
          o.get("bytes_out").asLong(), energy);
    } catch (IOException | RuntimeException ex) {
      throw new IllegalStateException("node sent an unreadable batch reading: " + ex.getMessage(), ex);
    }
  }

  private static EnergyMethod method(String label) {
    for (EnergyMethod m : EnergyMethod.values()) {
      if (m.label().equals(label)) {
        return m;
      }
    }
    throw new IllegalArgumentException("unknown energy method " + label);
  }
}
