package dev.joule.jobs.imports;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat;
import static org.apache.spark.sql.functions.from_json;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.when;

import dev.joule.jobs.JouleException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.SerializableConfiguration;

/**
 * CSV and JSON-lines input for {@code joule import}, read file by file in file order so that
 * every record keeps its file and line: a bad record is one row with a reason naming both, never
 * a failed file. Besides the input's own columns, each row has {@link #FILE}, {@link #POS} (the
 * line the record starts on, from 1) and {@link #MALFORMED} (why the record could not be read,
 * or null).
 *
 * <p>CSV: RFC 4180 through Apache Commons CSV ({@link CsvRecords}); the first record of each file
 * is its header, and every file of one input must have the same header. A record with more or
 * fewer fields than the header is malformed ({@code extra_fields}, {@code missing_fields}); an
 * empty field is null. Columns are strings (no type inference).
 *
 * <p>JSON lines: one JSON object per line ({@code \n}, or {@code \r\n}); blank lines are no
 * record. Spark infers the columns' types from all lines (as its JSON reader does) and parses
 * each line on its own.
 */
public final class TextInputs {

  public static final String FILE = "_joule_file";
  public static final String POS = "_joule_pos";
  public static final String MALFORMED = "_joule_malformed";
  public static final Set<String> INTERNAL = Set.of(FILE, POS, MALFORMED);
  private static final String TEXT = "_joule_text";
  private static final String CORRUPT = "_corrupt_record";

  private TextInputs() {}

  /**
   * The files of an input path: the file itself, or the files of a folder (or glob), without
   * hidden ones ({@code _…}, {@code .…}), in path order.
   */
  static List<String> files(Configuration conf, String input) {
    try {
      Path p = new Path(input);
      FileSystem fs = p.getFileSystem(conf);
      FileStatus[] matched = fs.globStatus(p);
      if (matched == null || matched.length == 0) {
        throw JouleException.input("input not found: " + input);
      }
      List<String> out = new ArrayList<>();
      for (FileStatus s : matched) {
        if (s.isDirectory()) {
          for (FileStatus c : fs.listStatus(s.getPath())) {
            if (c.isFile() && !hidden(c.getPath().getName())) {
              out.add(c.getPath().toString());
            }
          }
        } else {
          out.add(s.getPath().toString());
        }
      }
      out.sort(Comparator.naturalOrder());
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list input " + input + ": " + e.getMessage(), e);
    }
  }

  private static boolean hidden(String name) {
    return name.startsWith("_") || name.startsWith(".");
  }

  /** A file as UTF-8 text, decompressed when its extension names a codec (.gz, .bz2, ...). */
  static Reader open(Configuration conf, String file) throws IOException {
    Path p = new Path(file);
    InputStream in = p.getFileSystem(conf).open(p);
    CompressionCodec codec = new CompressionCodecFactory(conf).getCodec(p);
    if (codec != null) {
      in = codec.createInputStream(in);
    }
    return new InputStreamReader(in, StandardCharsets.UTF_8);
  }

  /** How a file is named in a reason: its path, without {@code file:} for local files. */
  static String display(String file) {
    return file.startsWith("file:") ? new Path(file).toUri().getPath() : file;
  }

  /** The CSV records of {@code input}: the header's columns (strings), then FILE, POS, MALFORMED. */
  public static Dataset<Row> csv(SparkSession spark, String input) {
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    List<String> files = files(conf, input);
    String[] header = null;
    String headerFile = null;
    for (String f : files) {
      try (CsvRecords rs = new CsvRecords(open(conf, f))) {
        if (rs.hasNext()) {
          CsvRecords.Record h = rs.next();
          if (h.error() != null) {
            throw JouleException.input("the header (line " + h.line() + " of " + display(f) + ") is not valid CSV: "
                + h.error());
          }
          header = h.fields();
          headerFile = f;
          break;
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + f + ": " + e.getMessage(), e);
      }
    }
    StructType schema = new StructType();
    if (header != null) {
      Set<String> seen = new HashSet<>();
      for (int i = 0; i < header.length; i++) {
        String name = header[i].isEmpty() ? "_c" + i : header[i];
        if (!seen.add(name)) {
          throw JouleException.input("the header of " + display(headerFile) + " names column '" + name + "' twice");
        }
        schema = schema.add(name, DataTypes.StringType, true);
      }
    }
    schema = withInternal(schema);
    if (header == null) { // no file has a record: no columns, no rows
      return spark.createDataFrame(List.of(), schema);
    }
    JavaRDD<Row> rows = fileRdd(spark, files).mapPartitions(
        new CsvRows(broadcastConf(spark), header, display(headerFile)));
    return spark.createDataFrame(rows, schema);
  }

  /** The JSON objects of {@code input}, one per non-blank line: the inferred columns, then FILE, POS, MALFORMED. */
  public static Dataset<Row> jsonLines(SparkSession spark, String input) {
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    List<String> files = files(conf, input);
    StructType lineSchema = new StructType().add(FILE, DataTypes.StringType, false)
        .add(POS, DataTypes.LongType, false).add(TEXT, DataTypes.StringType, false);
    Dataset<Row> lines = spark.createDataFrame(fileRdd(spark, files).mapPartitions(new JsonLineRows(broadcastConf(spark))),
        lineSchema);
    Map<String, String> options = Map.of("mode", "PERMISSIVE", "columnNameOfCorruptRecord", CORRUPT);
    StructType inferred = spark.read().options(options).json(lines.select(TEXT).as(Encoders.STRING())).schema();
    List<String> names = Arrays.asList(inferred.fieldNames());
    StructType parseSchema = names.contains(CORRUPT) ? inferred : inferred.add(CORRUPT, DataTypes.StringType, true);
    List<Column> cols = new ArrayList<>();
    for (StructField f : inferred.fields()) {
      if (!f.name().equals(CORRUPT)) {
        cols.add(col("_j").getField(f.name()).as(f.name()));
      }
    }
    cols.add(col(FILE));
    cols.add(col(POS));
    cols.add(when(col("_j").isNull().or(col("_j").getField(CORRUPT).isNotNull()),
        concat(lit("unparseable: line "), col(POS).cast("string"), lit(" of "), col("_display"),
            lit(" is not a JSON object"))).as(MALFORMED));
    return lines.withColumn("_j", from_json(col(TEXT), parseSchema, options))
        .withColumn("_display", displayColumn())
        .select(cols.toArray(Column[]::new));
  }

  private static Column displayColumn() {
    return org.apache.spark.sql.functions.regexp_replace(col(FILE), "^file:(//)?", "");
  }

  private static StructType withInternal(StructType schema) {
    return schema.add(FILE, DataTypes.StringType, false).add(POS, DataTypes.LongType, false)
        .add(MALFORMED, DataTypes.StringType, true);
  }

  /** The files as an RDD, in order, at most a few files per core in one partition. */
  private static JavaRDD<String> fileRdd(SparkSession spark, List<String> files) {
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    int slices = Math.max(1, Math.min(files.size(), 4 * jsc.defaultParallelism()));
    return jsc.parallelize(files, slices);
  }

  private static Broadcast<SerializableConfiguration> broadcastConf(SparkSession spark) {
    return JavaSparkContext.fromSparkContext(spark.sparkContext())
        .broadcast(new SerializableConfiguration(spark.sparkContext().hadoopConfiguration()));
  }

  /** Rows of the files of one partition, read lazily, each file closed when done or when the task ends. */
  private abstract static class FileRows<T> implements FlatMapFunction<Iterator<String>, Row> {
    final Broadcast<SerializableConfiguration> conf;

    FileRows(Broadcast<SerializableConfiguration> conf) {
      this.conf = conf;
    }

    /** Opens one file's records. */
    abstract T open(String file, Reader in) throws IOException;

    /** The next row of the file, or null at its end. */
    abstract Row read(T records, String file) throws IOException;

    abstract void close(T records) throws IOException;

    @Override
    public Iterator<Row> call(Iterator<String> files) {
      return new Iterator<>() {
        T current;
        String file;
        Row row;

        {
          TaskContext tc = TaskContext.get();
          if (tc != null) {
            tc.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) ctx -> closeCurrent());
          }
        }

        private void closeCurrent() {
          if (current != null) {
            try {
              close(current);
            } catch (IOException e) {
              // closing a file that was read: nothing to do about it
            }
            current = null;
          }
        }

        @Override
        public boolean hasNext() {
          try {
            while (row == null) {
              if (current == null) {
                if (!files.hasNext()) {
                  return false;
                }
                file = files.next();
                current = open(file, TextInputs.open(conf.value().value(), file));
              }
              row = read(current, file);
              if (row == null) {
                closeCurrent();
              }
            }
            return true;
          } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
          }
        }

        @Override
        public Row next() {
          if (!hasNext()) {
            throw new NoSuchElementException();
          }
          Row r = row;
          row = null;
          return r;
        }
      };
    }
  }

  /** One row per CSV record; the first record of each file is its header. */
  static final class CsvRows extends FileRows<CsvRecords> {
    private final String[] header;
    private final String headerFile;

    CsvRows(Broadcast<SerializableConfiguration> conf, String[] header, String headerFile) {
      super(conf);
      this.header = header;
      this.headerFile = headerFile;
    }

    @Override
    CsvRecords open(String file, Reader in) throws IOException {
      CsvRecords rs = new CsvRecords(in);
      if (rs.hasNext()) {
        CsvRecords.Record h = rs.next();
        if (h.error() != null || !Arrays.equals(h.fields(), header)) {
          rs.close();
          throw JouleException.input("the header of " + display(file) + " (line " + h.line() + ") is not the header of "
              + headerFile + ": every file of one CSV input needs the same columns in the same order");
        }
      }
      return rs;
    }

    @Override
    Row read(CsvRecords rs, String file) {
      if (!rs.hasNext()) {
        return null;
      }
      return row(rs.next(), header.length, file);
    }

    @Override
    void close(CsvRecords rs) throws IOException {
      rs.close();
    }

    static Row row(CsvRecords.Record r, int width, String file) {
      Object[] out = new Object[width + 3];
      String malformed = null;
      String where = "line " + r.line() + " of " + display(file);
      if (r.error() != null) {
        malformed = "unparseable: " + where + " is not valid CSV: " + r.error();
      } else {
        String[] f = r.fields();
        for (int i = 0; i < Math.min(width, f.length); i++) {
          out[i] = f[i].isEmpty() ? null : f[i];
        }
        if (f.length > width) {
          malformed = "extra_fields: " + where + " has " + f.length + " fields, the header has " + width;
        } else if (f.length < width) {
          malformed = "missing_fields: " + where + " has " + f.length + " fields, the header has " + width;
        }
      }
      out[width] = file;
      out[width + 1] = r.line();
      out[width + 2] = malformed;
      return RowFactory.create(out);
    }
  }

  /** One row (file, line, text) per non-blank line of a JSON-lines file. */
  static final class JsonLineRows extends FileRows<JsonLineRows.Lines> {
    JsonLineRows(Broadcast<SerializableConfiguration> conf) {
      super(conf);
    }

    static final class Lines {
      final TextLines in;
      final StringBuilder text = new StringBuilder();
      long line;

      Lines(Reader in) {
        this.in = new TextLines(in, false);
      }
    }

    @Override
    Lines open(String file, Reader in) {
      return new Lines(in);
    }

    @Override
    Row read(Lines ls, String file) throws IOException {
      while (true) {
        ls.text.setLength(0);
        if (!ls.in.next(ls.text)) {
          return null;
        }
        ls.line++;
        int n = ls.text.length();
        if (n > 0 && ls.text.charAt(n - 1) == '\n') {
          n--;
          if (n > 0 && ls.text.charAt(n - 1) == '\r') {
            n--;
          }
        }
        String text = ls.text.substring(ls.line == 1 && n > 0 && ls.text.charAt(0) == '\uFEFF' ? 1 : 0, n);
        if (!text.isBlank()) {
          return RowFactory.create(file, ls.line, text);
        }
      }
    }

    @Override
    void close(Lines ls) throws IOException {
      ls.in.close();
    }
  }
}
