package dev.joule.jobs.delta;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.joule.jobs.JouleException;
import dev.joule.udfs.files.TaskOutput;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.delta.DeltaLog;
import org.apache.spark.sql.delta.DeltaOperations;
import org.apache.spark.sql.delta.OptimisticTransaction;
import org.apache.spark.sql.delta.actions.Action;
import org.apache.spark.sql.delta.actions.AddFile;
import org.apache.spark.sql.delta.actions.Metadata;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Commits Parquet files that tasks already wrote into a table's folder, as Delta {@code AddFile}s
 * in one transaction, optionally removing in the same commit the files whose rows all match
 * {@code replace} (the rows this run replaces). Creates the table in that commit if it does not
 * exist. The transaction reads the whole table, so a concurrent commit fails this one
 * ({@code ConcurrentAppendException}) and nothing of it lands.
 *
 * <p>Which files hold only replaced rows is read from each file's statistics (min = max = the
 * value, no nulls). A file that may mix replaced and kept rows (one rewritten by OPTIMIZE, say,
 * or with no statistics) makes {@link #commit} throw {@link MixedFiles}; the caller then deletes
 * those rows with Delta's own DELETE first.
 *
 * <p>Uses Delta's transaction API (Delta 4.3.1, pinned), as {@link DeltaIO} does.
 */
final class FileCommit {

  private static final ObjectMapper JSON = new ObjectMapper();

  private FileCommit() {}

  /** Some files may hold both replaced and kept rows. */
  static final class MixedFiles extends RuntimeException {
    MixedFiles(String path, int n) {
      super(n + " file(s) of " + path + " may hold rows of other models and kernels");
    }
  }

  /**
   * @param replace column → value: the rows this commit replaces (null: a blind append)
   * @param constants column → value of every row in {@code files}: written as their statistics
   */
  static void commit(SparkSession spark, String path, StructType schema, List<TaskOutput.WrittenFile> files,
      Map<String, String> replace, Map<String, String> constants, Map<String, String> newTableProperties) {
    commit(spark, null, path, schema, files, replace, constants, newTableProperties, TableCommit.Guard.NONE);
  }

  /**
   * As above; {@code guard} is called with the version the transaction read (-1: no table yet)
   * before anything is committed, and may refuse the commit by throwing. Any commit after that
   * version fails this one ({@code readWholeTable}), so what the guard saw is what is committed on.
   *
   * @param engine Delta Kernel's engine, for the list of the files to replace ({@link
   *     DriverFileList}); null: Delta's snapshot lists them
   */
  static void commit(SparkSession spark, io.delta.kernel.engine.Engine engine, String path, StructType schema,
      List<TaskOutput.WrittenFile> files, Map<String, String> replace, Map<String, String> constants,
      Map<String, String> newTableProperties, TableCommit.Guard guard) {
    DeltaLog log = DeltaLog.forTable(spark, path);
    OptimisticTransaction txn = log.startTransaction();
    guard.check(txn.readVersion());
    List<Action> actions = new ArrayList<>();
    long now = System.currentTimeMillis();
    boolean schemaChanged = false;
    if (txn.readVersion() < 0) {
      // As Delta's own writer does: every column nullable, nested ones too (Delta refuses NOT NULL in arrays).
      Metadata m = Metadata$.apply(schema.asNullable(), newTableProperties);
      txn.updateMetadataForNewTable(m);
    } else {
      Metadata m = txn.metadata();
      refuseUnsupported(m, path);
      StructType merged = merge(m.schema(), schema.asNullable(), path);
      if (merged != m.schema()) {
        schemaChanged = true;
        txn.updateMetadata(m.copy(m.id(), m.name(), m.description(), m.format(), merged.json(), m.partitionColumns(),
            m.configuration(), m.createdTime()), false);
      }
      int mixed = 0;
      // The whole table is read (so any concurrent commit conflicts), with each file's statistics:
      // filterFiles() would return the files without them.
      txn.readWholeTable();
      for (AddFile f : replace == null ? List.<AddFile>of() : DriverFileList.live(spark, engine, txn)) {
        Match match = replace == null ? Match.NONE : match(f.stats(), replace);
        if (match == Match.ALL) {
          actions.add(f.removeWithTimestamp(now, true));
        } else if (match == Match.SOME) {
          mixed++;
        }
      }
      if (mixed > 0) {
        throw new MixedFiles(path, mixed);
      }
    }
    if (txn.readVersion() >= 0 && actions.isEmpty() && files.isEmpty() && !schemaChanged) {
      return; // nothing to replace, nothing to add: no empty commit
    }
    actions.addAll(adds(files, schema, constants));
    String predicate = replace == null ? null : String.join(" AND ", replace.entrySet().stream()
        .map(e -> e.getKey() + " = '" + DeltaIO.sqlString(e.getValue()) + "'").toList());
    txn.commit(scala.jdk.javaapi.CollectionConverters.asScala(actions).toList(),
        write(replace == null ? SaveMode.Append : SaveMode.Overwrite, predicate));
  }

  /** Delta's WRITE operation, as the commit's history shows it. */
  static DeltaOperations.Write write(SaveMode mode, String predicate) {
    return new DeltaOperations.Write(mode, DeltaOperations.Write$.MODULE$.apply$default$2(), scala.Option.apply(predicate),
        DeltaOperations.Write$.MODULE$.apply$default$4(), DeltaOperations.Write$.MODULE$.apply$default$5(),
        DeltaOperations.Write$.MODULE$.apply$default$6(), DeltaOperations.Write$.MODULE$.apply$default$7(),
        DeltaOperations.Write$.MODULE$.apply$default$8(), DeltaOperations.Write$.MODULE$.apply$default$9());
  }

  /**
   * Added files' actions, each with its own row count, {@code constants} as its statistics (a
   * null value: the column is null in every row), and the range of its first column where the
   * writer kept one ({@link TaskOutput.WrittenFile#firstColumn}; {@code schema} names it).
   */
  static List<AddFile> adds(List<TaskOutput.WrittenFile> files, StructType schema, Map<String, String> constants) {
    List<AddFile> out = new ArrayList<>();
    String first = schema.fields().length == 0 ? null : schema.fields()[0].name();
    for (TaskOutput.WrittenFile w : files) {
      out.add(AddFile.apply(w.name(), scala.collection.immutable.Map$.MODULE$.empty(), w.bytes(),
          w.modificationTime(), true, stats(constants, w.rows(), first, w.firstColumn()), AddFile.apply$default$7(),
          AddFile.apply$default$8(),
          AddFile.apply$default$9(), AddFile.apply$default$10(), AddFile.apply$default$11()));
    }
    return out;
  }

  /** Whether a file's rows all match, none can, or some may. */
  enum Match { ALL, NONE, SOME }

  static Match match(String statsJson, Map<String, String> replace) {
    if (statsJson == null || statsJson.isEmpty()) {
      return Match.SOME;
    }
    JsonNode stats;
    try {
      stats = JSON.readTree(statsJson);
    } catch (java.io.IOException e) {
      return Match.SOME;
    }
    boolean all = true;
    for (Map.Entry<String, String> e : replace.entrySet()) {
      JsonNode min = stats.path("minValues").path(e.getKey());
      JsonNode max = stats.path("maxValues").path(e.getKey());
      JsonNode nulls = stats.path("nullCount").path(e.getKey());
      if (!min.isTextual() || !max.isTextual()) {
        if (nulls.isNumber() && stats.path("numRecords").isNumber()
            && nulls.asLong() == stats.path("numRecords").asLong()) {
          return Match.NONE; // the column is null in every row: none equals the value
        }
        all = false;
        continue;
      }
      String v = e.getValue();
      // Delta's string bounds may be truncated: min is then below every value, max above.
      if (v.compareTo(min.asText()) < 0 || v.compareTo(max.asText()) > 0) {
        return Match.NONE;
      }
      if (!(min.asText().equals(v) && max.asText().equals(v) && nulls.isNumber() && nulls.asLong() == 0)) {
        all = false;
      }
    }
    return all ? Match.ALL : Match.SOME;
  }

  /**
   * The least and greatest value of integer column {@code column} in a file's statistics, or null
   * where they do not give both (no statistics, not integers, or a column not counted).
   */
  static long[] integerBounds(String statsJson, String column) {
    if (statsJson == null || statsJson.isEmpty()) {
      return null;
    }
    JsonNode stats;
    try {
      stats = JSON.readTree(statsJson);
    } catch (java.io.IOException e) {
      return null;
    }
    JsonNode min = stats.path("minValues").path(column);
    JsonNode max = stats.path("maxValues").path(column);
    return min.isIntegralNumber() && max.isIntegralNumber() && min.canConvertToLong() && max.canConvertToLong()
        ? new long[] {min.asLong(), max.asLong()} : null;
  }

  /**
   * Delta file statistics for {@code rows} rows whose {@code constants} columns each hold one
   * value in every row (null: null in every row).
   */
  static String stats(Map<String, String> constants, long rows) {
    return stats(constants, rows, null, null);
  }

  /** As above, and {@code range} as the bounds of column {@code column} (null: none). */
  static String stats(Map<String, String> constants, long rows, String column, TaskOutput.IntegerRange range) {
    ObjectNode s = JSON.createObjectNode();
    s.put("numRecords", rows);
    ObjectNode min = s.putObject("minValues");
    ObjectNode max = s.putObject("maxValues");
    ObjectNode nulls = s.putObject("nullCount");
    if (column != null && range != null && rows > 0 && !constants.containsKey(column)) {
      min.put(column, range.min());
      max.put(column, range.max());
      nulls.put(column, 0);
    }
    constants.forEach((k, v) -> {
      if (v == null) {
        nulls.put(k, rows);
      } else {
        min.put(k, v);
        max.put(k, v);
        nulls.put(k, 0);
      }
    });
    return s.toString();
  }

  static void refuseUnsupported(Metadata m, String path) {
    Map<String, String> conf = scala.jdk.javaapi.CollectionConverters.asJava(m.configuration());
    String mapping = conf.getOrDefault("delta.columnMapping.mode", "none");
    boolean constraints = conf.keySet().stream().anyMatch(k -> k.startsWith("delta.constraints."));
    if (!mapping.equals("none") || constraints || !m.partitionColumns().isEmpty()) {
      throw JouleException.input(path + " uses " + (constraints ? "CHECK constraints"
          : !mapping.equals("none") ? "column mapping" : "partition columns")
          + ", which Joule's output tables do not support (Joule commits its own data files to them); "
          + "write to a new output folder");
    }
  }

  /** The table's schema with this run's new columns added; a column of another type is an error. */
  static StructType merge(StructType table, StructType data, String path) {
    StructType merged = table;
    for (StructField f : data.fields()) {
      StructField existing = null;
      for (StructField t : table.fields()) {
        if (t.name().equalsIgnoreCase(f.name())) {
          existing = t;
        }
      }
      if (existing == null) {
        merged = merged.add(f.name(), f.dataType(), true);
      } else if (!DataType.equalsIgnoreNullability(existing.dataType(), f.dataType())) {
        throw JouleException.input(path + ": column '" + f.name() + "' is " + existing.dataType().simpleString()
            + " in the table and " + f.dataType().simpleString() + " in this run; write to a new output folder");
      }
    }
    return merged;
  }

  /** A new table's metadata: Delta's defaults (id, parquet, creation time) with this schema and properties. */
  private static final class Metadata$ {
    static Metadata apply(StructType schema, Map<String, String> properties) {
      var d = org.apache.spark.sql.delta.actions.Metadata$.MODULE$;
      return new Metadata(d.apply$default$1(), d.apply$default$2(), d.apply$default$3(), d.apply$default$4(),
          schema.json(), d.apply$default$6(),
          scala.collection.immutable.Map$.MODULE$.from(scala.jdk.javaapi.CollectionConverters.asScala(properties)),
          d.apply$default$8());
    }
  }
}
