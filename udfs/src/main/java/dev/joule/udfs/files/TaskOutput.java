package dev.joule.udfs.files;

import java.io.Serializable;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;

/**
 * What one scoring task returns to the driver instead of its rows: its counts, its reject
 * reasons, its energy record and the data files it wrote. Spark hands the driver the output of
 * exactly one successful attempt per partition, so counts summed over these are never doubled
 * by a retried task.
 *
 * @param reasons rejected rows per reason code (the part of the reason before its colon)
 * @param examples one full reason per code
 * @param energy the partition's energy record ({@code EnergyRecord.SCHEMA})
 * @param sampled the fp32 rows of the quality gate's sample that the task read
 * @param truncated rows written from part of their input (an embedding task's texts over the
 *     model's length); 0 for scoring
 * @param maxAbs an embedding task's largest |x| of each dimension over the vectors it wrote
 *     (the table's dimension scales), or null
 * @param ids the ids of the predictions the task wrote, when its run keeps them
 *     ({@link RunColumns#keepIds()}), else null
 */
public record TaskOutput(int partition, int attempt, long rowsIn, long scored, long rejected,
    Map<String, Long> reasons, Map<String, String> examples, Row energy, List<WrittenFile> files,
    dev.joule.udfs.SampledRows sampled, long truncated, float[] maxAbs, List<Object> ids) implements Serializable {

  public TaskOutput(int partition, int attempt, long rowsIn, long scored, long rejected,
      Map<String, Long> reasons, Map<String, String> examples, Row energy, List<WrittenFile> files,
      dev.joule.udfs.SampledRows sampled, List<Object> ids) {
    this(partition, attempt, rowsIn, scored, rejected, reasons, examples, energy, files, sampled, 0, null, ids);
  }

  /**
   * One closed data file: the table it belongs to, its name in the table folder, size, time,
   * rows, and the least and greatest value of its first column where that is an integer column
   * set in every row (else null): the file's statistics, which let a commit or a query skip it.
   */
  public record WrittenFile(String table, String name, String path, long bytes, long modificationTime, long rows,
      IntegerRange firstColumn) implements Serializable {

    public WrittenFile(String table, String name, String path, long bytes, long modificationTime, long rows) {
      this(table, name, path, bytes, modificationTime, rows, null);
    }
  }

  /** The least and greatest value of an integer column over a file's rows. */
  public record IntegerRange(long min, long max) implements Serializable {

    /** Whether a column of this type has an integer range: long, int, short, byte. */
    public static boolean tracks(org.apache.spark.sql.types.DataType type) {
      return type instanceof org.apache.spark.sql.types.LongType
          || type instanceof org.apache.spark.sql.types.IntegerType
          || type instanceof org.apache.spark.sql.types.ShortType
          || type instanceof org.apache.spark.sql.types.ByteType;
    }
  }
}
