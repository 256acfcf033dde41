package dev.joule.udfs.files;

import java.io.Serializable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.mapreduce.Job;
import org.apache.hadoop.mapreduce.JobID;
import org.apache.hadoop.mapreduce.TaskAttemptContext;
import org.apache.hadoop.mapreduce.TaskAttemptID;
import org.apache.hadoop.mapreduce.TaskID;
import org.apache.hadoop.mapreduce.TaskType;
import org.apache.hadoop.mapreduce.task.TaskAttemptContextImpl;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.execution.datasources.OutputWriter;
import org.apache.spark.sql.execution.datasources.OutputWriterFactory;
import org.apache.spark.sql.execution.datasources.parquet.ParquetFileFormat;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.SerializableConfiguration;

/**
 * Where and how a task writes the Parquet data files of one Delta table: straight into the
 * table's folder, under names that carry the run ({@link #isPending}), with Spark's own Parquet
 * writer (the one Delta uses). The files are invisible until the driver commits them as
 * {@code AddFile}s; a task attempt that fails leaves files no commit will ever name.
 *
 * <p>Made on the driver ({@link #prepare}); used in tasks ({@link #open}).
 */
public final class TableFiles implements Serializable {

  private static final long serialVersionUID = 1L;
  /** Marks a file name as a Joule data file: {@code part-PPPPP-joule-RUN-aATTEMPT.c000.snappy.parquet}. */
  private static final String MARK = "-joule-";

  private final String dir;
  private final StructType schema;
  private final String runTag;
  private final OutputWriterFactory factory;
  /** The write configuration shipped to the tasks; null for files the driver writes itself. */
  private final Broadcast<SerializableConfiguration> conf;
  /** The write configuration, on the driver that prepared it. */
  private final transient Configuration local;

  private TableFiles(String dir, StructType schema, String runTag, OutputWriterFactory factory,
      Broadcast<SerializableConfiguration> conf, Configuration local) {
    this.dir = dir;
    this.schema = schema;
    this.runTag = runTag;
    this.factory = factory;
    this.conf = conf;
    this.local = local;
  }

  /**
   * @param dir the table's folder (it may not exist yet)
   * @param runTag what names this run's files, e.g. its run id and attempt
   */
  public static TableFiles prepare(SparkSession spark, String dir, StructType schema, String runTag) {
    return prepare(spark, dir, schema, runTag, true);
  }

  /**
   * As {@link #prepare(SparkSession, String, StructType, String)}, for files that only the driver
   * opens: nothing is broadcast (a broadcast serializes the whole Hadoop configuration and
   * registers it with the block manager, for files no task opens).
   */
  public static TableFiles prepareOnDriver(SparkSession spark, String dir, StructType schema, String runTag) {
    return prepare(spark, dir, schema, runTag, false);
  }

  /**
   * As {@link #prepareOnDriver}, with no Spark session: Spark's Parquet write settings from
   * {@code sqlConf} (its defaults, or the user's {@code spark.sql.parquet.*} settings) over
   * {@code hadoopConf}, as a session would make them ({@code TableFilesIT} compares the two).
   */
  public static TableFiles prepareWithoutSession(Configuration hadoopConf, org.apache.spark.sql.internal.SQLConf sqlConf,
      String dir, StructType schema, String runTag) {
    checkTag(runTag);
    try {
      Job job = Job.getInstance(new Configuration(hadoopConf));
      OutputWriterFactory factory = org.apache.spark.sql.execution.datasources.parquet.ParquetUtils.prepareWrite(
          sqlConf, job, schema, new org.apache.spark.sql.execution.datasources.parquet.ParquetOptions(
              scala.collection.immutable.Map$.MODULE$.<String, String>empty(), sqlConf));
      return new TableFiles(dir, schema, runTag, factory, null, withoutDictionaries(job.getConfiguration(), schema));
    } catch (java.io.IOException e) {
      throw new IllegalStateException("cannot prepare Parquet files for " + dir + ": " + e.getMessage(), e);
    }
  }

  private static void checkTag(String runTag) {
    if (!runTag.matches("[A-Za-z0-9._-]+")) {
      throw new IllegalArgumentException("run tag '" + runTag + "' must be letters, digits, . _ -");
    }
  }

  private static Configuration withoutDictionaries(Configuration c, StructType schema) {
    for (String column : floatColumns(schema, "")) {
      // Scores rarely repeat: a dictionary is tried for every page, grows to its limit and is
      // thrown away (measured: hash-map rehashing and the fallback were a tenth of a scoring task).
      c.setIfUnset("parquet.enable.dictionary#" + column, "false");
    }
    return c;
  }

  private static TableFiles prepare(SparkSession spark, String dir, StructType schema, String runTag, boolean tasks) {
    checkTag(runTag);
    try {
      Job job = Job.getInstance(spark.sessionState().newHadoopConf());
      OutputWriterFactory factory = new ParquetFileFormat().prepareWrite(spark, job,
          scala.collection.immutable.Map$.MODULE$.empty(), schema);
      Configuration c = withoutDictionaries(job.getConfiguration(), schema);
      return new TableFiles(dir, schema, runTag, factory, !tasks ? null
          : spark.sparkContext().broadcast(new SerializableConfiguration(c),
              scala.reflect.ClassTag$.MODULE$.apply(SerializableConfiguration.class)), c);
    } catch (java.io.IOException e) {
      throw new IllegalStateException("cannot prepare Parquet files for " + dir + ": " + e.getMessage(), e);
    }
  }

  /**
   * The Parquet paths of the float and double columns of {@code type}, as Spark writes them
   * (arrays as {@code name.list.element}, maps as {@code name.key_value.key/value}).
   */
  public static java.util.List<String> floatColumns(org.apache.spark.sql.types.DataType type, String path) {
    java.util.List<String> out = new java.util.ArrayList<>();
    if (type instanceof StructType st) {
      for (org.apache.spark.sql.types.StructField f : st.fields()) {
        out.addAll(floatColumns(f.dataType(), path.isEmpty() ? f.name() : path + "." + f.name()));
      }
    } else if (type instanceof org.apache.spark.sql.types.ArrayType at) {
      out.addAll(floatColumns(at.elementType(), path + ".list.element"));
    } else if (type instanceof org.apache.spark.sql.types.MapType mt) {
      out.addAll(floatColumns(mt.keyType(), path + ".key_value.key"));
      out.addAll(floatColumns(mt.valueType(), path + ".key_value.value"));
    } else if (type instanceof org.apache.spark.sql.types.FloatType || type instanceof org.apache.spark.sql.types.DoubleType) {
      out.add(path);
    }
    return out;
  }

  /** The write configuration: the driver's own where it is on the driver, else the broadcast one. */
  private Configuration configuration() {
    if (local != null) {
      return local;
    }
    if (conf == null) {
      throw new IllegalStateException("the files of " + dir + " were prepared for the driver (prepareOnDriver), not "
          + "for tasks");
    }
    return conf.value().value();
  }

  /** Frees the configuration shipped to the tasks, once no file will be opened any more. */
  public void release() {
    if (conf != null) {
      conf.destroy();
    }
  }

  public String dir() {
    return dir;
  }

  public StructType schema() {
    return schema;
  }

  /** The prefix every file of this run has in {@link #dir}, whichever task wrote it. */
  public String runPrefixMark() {
    return runMark(runTag);
  }

  /** What every file name written under {@code runTag} contains, committed or not. */
  public static String runMark(String runTag) {
    return MARK + runTag + "-a";
  }

  /** Whether {@code fileName} is a Joule data file (committed or not). */
  public static boolean isPending(String fileName) {
    return fileName.startsWith("part-") && fileName.contains(MARK);
  }

  /** Opens the writer of one task attempt's file: Spark's, for {@code InternalRow}s. */
  public Open open(int partition, int attempt, long taskAttemptId) {
    TaskAttemptContext ctx = context(partition, attempt);
    String path = path(partition, attempt, taskAttemptId, ctx);
    return new Open(name(path), path, factory.newInstance(path, schema, ctx), null, ctx.getConfiguration());
  }

  /** Whether this table's predictions of a run with these columns are written as values. */
  boolean takesValues(RunColumns columns) {
    return PredictionColumns.fits(columns, configuration());
  }

  /**
   * Opens one task attempt's predictions file written as values ({@link PredictionColumns}),
   * where {@link #takesValues}.
   */
  Open openValues(int partition, int attempt, long taskAttemptId, RunColumns columns, java.util.List<String> labels) {
    TaskAttemptContext ctx = context(partition, attempt);
    String path = path(partition, attempt, taskAttemptId, ctx);
    try {
      return new Open(name(path), path, null,
          new PredictionColumns(ctx.getConfiguration(), new org.apache.hadoop.fs.Path(path), columns, labels),
          ctx.getConfiguration());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("cannot open " + path + ": " + e.getMessage(), e);
    }
  }

  private TaskAttemptContext context(int partition, int attempt) {
    return new TaskAttemptContextImpl(configuration(), new TaskAttemptID(
        new TaskID(new JobID("joule", 0), TaskType.MAP, partition), attempt));
  }

  private String path(int partition, int attempt, long taskAttemptId, TaskAttemptContext ctx) {
    String name = String.format(java.util.Locale.ROOT, "part-%05d%s%d-%d.c000%s", partition, runPrefixMark(),
        attempt, taskAttemptId, factory.getFileExtension(ctx));
    return new org.apache.hadoop.fs.Path(dir, name).toString();
  }

  private static String name(String path) {
    return path.substring(path.lastIndexOf('/') + 1);
  }

  /**
   * An open file: its name in the table folder, its full path, and its writer: Spark's
   * ({@code rows}) or the predictions' values ({@code values}), the other null.
   */
  public record Open(String name, String path, OutputWriter rows, PredictionColumns values, Configuration conf) {

    /** Finishes the file. */
    void finish() throws java.io.IOException {
      if (rows != null) {
        rows.close();
      } else {
        values.close();
      }
    }

    /** Closes the writer without finishing the file (it is deleted next). */
    void abandon() {
      try {
        if (rows != null) {
          rows.close();
        } else {
          values.abandon();
        }
      } catch (RuntimeException e) {
        // the file is deleted next
      }
    }

    /** Size and time of the closed file, as a Delta AddFile needs them. */
    public org.apache.hadoop.fs.FileStatus status() throws java.io.IOException {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
      return p.getFileSystem(conf).getFileStatus(p);
    }

    /** Best effort, for a failed task: the file will never be committed. */
    public void delete() {
      try {
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
        p.getFileSystem(conf).delete(p, false);
      } catch (java.io.IOException | RuntimeException e) {
        // left for the driver's clean-up of this run's files, or VACUUM
      }
    }
  }
}
