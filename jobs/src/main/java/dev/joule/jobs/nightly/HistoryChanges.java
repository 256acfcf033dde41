package dev.joule.jobs.nightly;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/**
 * The data files a version range of a Delta table added and removed, read from the commit files
 * in {@code _delta_log}: the change source when the table has no change data feed. Commits that
 * do not change data (OPTIMIZE, {@code dataChange = false}) are skipped. Returns a reason instead
 * when the files alone cannot describe the rows: deletion vectors, partition values, column
 * mapping, or commit files already cleaned out of the log.
 */
final class HistoryChanges {

  private static final ObjectMapper JSON = new ObjectMapper();

  final List<String> added = new ArrayList<>();
  final List<String> removed = new ArrayList<>();
  String reason;

  static HistoryChanges read(SparkSession spark, String table, long start, long end) {
    HistoryChanges h = new HistoryChanges();
    Set<String> add = new LinkedHashSet<>();
    Set<String> remove = new LinkedHashSet<>();
    try {
      Path root = new Path(table);
      FileSystem fs = root.getFileSystem(spark.sparkContext().hadoopConfiguration());
      for (long v = start; v <= end; v++) {
        Path commit = new Path(root, String.format("_delta_log/%020d.json", v));
        if (!fs.exists(commit)) {
          h.reason = "the table history for version " + v + " is no longer in _delta_log (log cleaned up)";
          return h;
        }
        try (BufferedReader r = new BufferedReader(new InputStreamReader(fs.open(commit), StandardCharsets.UTF_8))) {
          for (String line = r.readLine(); line != null; line = r.readLine()) {
            JsonNode a = JSON.readTree(line);
            if (a.has("metaData")) {
              String mode = a.at("/metaData/configuration/delta.columnMapping.mode").asText("none");
              if (!mode.equals("none") || a.at("/metaData/partitionColumns").size() > 0) {
                h.reason = "version " + v + " uses column mapping or partitions, which the history path does not read";
                return h;
              }
            }
            for (String kind : new String[] {"add", "remove"}) {
              JsonNode f = a.get(kind);
              if (f == null || !f.path("dataChange").asBoolean(true)) {
                continue;
              }
              if (f.hasNonNull("deletionVector")) {
                h.reason = "version " + v + " uses deletion vectors; enable the change data feed for incremental nights";
                return h;
              }
              String file = new Path(root, new Path(new URI(f.get("path").asText()))).toString();
              if (kind.equals("add")) {
                add.add(file);
              } else if (!add.remove(file)) {
                remove.add(file); // a file added and removed inside the range never mattered
              }
            }
          }
        }
      }
      for (String f : remove) {
        if (!fs.exists(new Path(f))) {
          h.reason = "a data file removed in versions " + start + ".." + end + " is gone (vacuumed): " + f;
          return h;
        }
      }
    } catch (IOException | URISyntaxException | RuntimeException e) {
      h.reason = "the table history could not be read: " + e.getMessage();
      return h;
    }
    h.added.addAll(add);
    h.removed.addAll(remove);
    return h;
  }
}
