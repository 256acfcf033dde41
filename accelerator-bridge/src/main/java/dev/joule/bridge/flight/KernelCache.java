package dev.joule.bridge.flight;

import dev.joule.bridge.kernel.Kernel;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A node's kernels, bounded by the bytes they were pushed as; the least recently used kernel
 * leaves first. A client whose kernel was evicted gets NOT_FOUND and pushes it again.
 */
final class KernelCache {

  private record Entry(Kernel kernel, long bytes) {}

  private final long maxBytes;
  private final LinkedHashMap<String, Entry> entries = new LinkedHashMap<>(16, 0.75f, true);
  private long bytes;

  KernelCache(long maxBytes) {
    this.maxBytes = maxBytes;
  }

  synchronized Kernel get(String id) {
    Entry e = entries.get(id);
    return e == null ? null : e.kernel;
  }

  synchronized boolean contains(String id) {
    return entries.containsKey(id);
  }

  /** Adds a kernel, evicting least recently used ones until it fits; returns the ids evicted. */
  synchronized java.util.List<String> put(String id, Kernel kernel, long size) {
    java.util.List<String> evicted = new java.util.ArrayList<>();
    if (entries.containsKey(id)) {
      return evicted;
    }
    Iterator<Map.Entry<String, Entry>> it = entries.entrySet().iterator();
    while (bytes + size > maxBytes && it.hasNext()) {
      Map.Entry<String, Entry> oldest = it.next();
      bytes -= oldest.getValue().bytes;
      evicted.add(oldest.getKey());
      it.remove();
    }
    entries.put(id, new Entry(kernel, size));
    bytes += size;
    return evicted;
  }

  synchronized int size() {
    return entries.size();
  }

  synchronized long bytes() {
    return bytes;
  }
}
