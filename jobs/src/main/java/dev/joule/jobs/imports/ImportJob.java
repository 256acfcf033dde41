package dev.joule.jobs.imports;

import static org.apache.spark.sql.functions.coalesce;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat;
import static org.apache.spark.sql.functions.first;
import static org.apache.spark.sql.functions.length;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.regexp_replace;
import static org.apache.spark.sql.functions.row_number;
import static org.apache.spark.sql.functions.size;
import static org.apache.spark.sql.functions.substring;
import static org.apache.spark.sql.functions.substring_index;
import static org.apache.spark.sql.functions.when;

import dev.joule.jobs.JouleException;
import dev.joule.jobs.delta.TableCommit;
import dev.joule.udfs.IdColumn;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.expressions.WindowSpec;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;

/**
 * {@code joule import}: existing embeddings (Parquet, CSV or JSON lines) → a Delta table in the
 * layout Joule reads, plus a rejects table. Every input row is imported or rejected with a reason
 * (null, wrong dimension, NaN/Inf, unparseable, extra or missing CSV fields, duplicate id) and
 * where it was (file, line or row); counts are reconciled before the two tables are committed
 * together, and an import that rejects every row writes nothing. CSV and JSON lines are read
 * record by record ({@link TextInputs}), so a bad record is one reject, never a failed file.
 *
 * <p>The embedding is an array column (numbers, or a string such as {@code "[0.1, 0.2]"}), a
 * packed float32 binary column, or, for CSV, one numeric column per dimension named
 * {@code <embedding-col><index>} (e.g. {@code emb_0 … emb_383} with {@code --embedding-col emb_}).
 *
 * <p>The input's other columns (a label, a timestamp, text) are kept, with their types, after
 * {@code id} and {@code embedding}: all of them by default, or only those named in {@code keep}
 * (an empty list keeps none). The id and embedding columns, per-dimension columns included, are
 * consumed, not kept. CSV is read without type inference, so its kept columns are strings.
 */
public final class ImportJob {

  /**
   * @param keep the other input columns to keep, in this order; {@code null} keeps all of them
   *     (in the input's order), an empty list none
   */
  public record Request(String format, String input, String idCol, String embeddingCol, String out,
      String rejects, String layout, Integer dim, List<String> keep) {
    /** Keeps every other column. */
    public Request(String format, String input, String idCol, String embeddingCol, String out,
        String rejects, String layout, Integer dim) {
      this(format, input, idCol, embeddingCol, out, rejects, layout, dim, null);
    }
  }

  /** @param kept the input's columns the table kept besides id and embedding */
  public record Result(long rowsIn, long imported, long rejected, int dim, Map<String, Long> reasons,
      String table, String rejectsTable, List<String> kept) {}

  private static final String CORRUPT = "_corrupt_record";
  private final SparkSession spark;

  public ImportJob(SparkSession spark) {
    this.spark = spark;
  }

  public Result run(Request r) {
    if (!r.layout().equals("array") && !r.layout().equals("binary")) {
      throw JouleException.usage("--layout must be array or binary, got " + r.layout());
    }
    if (!new java.io.File(r.input()).exists() && !r.input().contains("://")) {
      throw JouleException.input("input not found: " + r.input());
    }
    // Before any work: never write over, or delete on failure, a user's files.
    dev.joule.jobs.delta.OutputPaths.requireWritable(spark, r.out(), "--out");
    dev.joule.jobs.delta.OutputPaths.requireWritable(spark, r.rejects(), "rejects table");
    Dataset<Row> raw = read(r.format(), r.input());
    StructType schema = raw.schema();
    List<String> names = visible(Arrays.asList(schema.fieldNames()));
    if (names.isEmpty()) { // an empty input: no rows, so no columns
      throw JouleException.input("input " + r.input() + " has no rows; nothing imported");
    }
    if (!names.contains(r.idCol())) {
      throw JouleException.input("input " + r.input() + " has no id column '" + r.idCol()
          + "' (columns: " + String.join(", ", names) + ")");
    }
    DataType idType = schema.apply(r.idCol()).dataType();
    IdColumn idKind = IdColumn.of(idType);
    DataType outIdType = idKind == null ? DataTypes.StringType : idKind.sparkType();

    Source source = source(r, schema, names);
    List<String> kept = kept(r, names, embeddingColumns(r.embeddingCol(), names));
    int[] keptIdx = kept.stream().mapToInt(schema::fieldIndex).toArray();
    int idIdx = schema.fieldIndex(r.idCol());
    int fileIdx = schema.fieldIndex(TextInputs.FILE);
    int posIdx = schema.fieldIndex(TextInputs.POS);
    int malformedIdx = schema.fieldIndex(TextInputs.MALFORMED);
    StructType parsedSchema = new StructType()
        .add("id", outIdType, true)
        .add("values", DataTypes.createArrayType(DataTypes.FloatType, false), true)
        .add("reason", DataTypes.StringType, true)
        .add("source_file", DataTypes.StringType, true)
        .add("pos", DataTypes.LongType, false);
    // Kept columns travel under internal names (a user's column may be called "reason" or "pos").
    for (int i = 0; i < keptIdx.length; i++) {
      parsedSchema = parsedSchema.add(keptName(i), schema.fields()[keptIdx[i]].dataType(), true);
    }
    int fixed = parsedSchema.size() - keptIdx.length;
    boolean idAsString = idKind == null;
    MapFunction<Row, Row> parse = row -> {
      Object id = row.isNullAt(idIdx) ? null : (idAsString ? idText(row.get(idIdx)) : row.get(idIdx));
      String file = row.getString(fileIdx);
      long pos = row.getLong(posIdx);
      Object[] out = new Object[fixed + keptIdx.length];
      out[0] = id;
      out[3] = file;
      out[4] = pos;
      for (int i = 0; i < keptIdx.length; i++) {
        out[fixed + i] = row.get(keptIdx[i]);
      }
      if (!row.isNullAt(malformedIdx)) {
        out[2] = row.getString(malformedIdx);
      } else {
        Parsed p = source.parse(row);
        out[1] = p.values;
        out[2] = p.reason;
      }
      return RowFactory.create(out);
    };
    Dataset<Row> parsed = raw
        .map(parse, Encoders.row(parsedSchema))
        .persist(StorageLevel.MEMORY_AND_DISK());
    try {
      long rowsIn = parsed.count();
      if (rowsIn == 0) {
        throw JouleException.input("input " + r.input() + " has no rows; nothing imported");
      }
      int dim = r.dim() != null ? r.dim() : inferDim(parsed);
      Column reason = coalesce(col("reason"),
          when(col("id").isNull(), lit("null_id: id is null"))
              .when(size(col("values")).notEqual(dim), concat(lit("wrong_dim: embedding has "),
                  size(col("values")).cast("string"), lit(" values, expected " + dim))));
      Dataset<Row> checked = parsed.withColumn("reason", reason);
      // Among otherwise valid rows, an id seen twice is imported from its first occurrence in file
      // order (files by path, then line or row); the later ones are rejected, naming it.
      WindowSpec sameId = Window.partitionBy(col("id"), col("reason").isNull())
          .orderBy(col("source_file"), col("pos"));
      Column firstFile = first(col("source_file")).over(sameId);
      Column idText = col("id").cast("string");
      Column duplicate = concat(lit("duplicate_id: id "),
          when(length(idText).gt(80), concat(substring(idText, 1, 77), lit("..."))).otherwise(idText),
          lit(" also on " + unit(r.format()) + " "), first(col("pos")).over(sameId).cast("string"),
          when(firstFile.notEqual(col("source_file")), concat(lit(" of "), display(firstFile))).otherwise(lit("")),
          lit(", imported from there"));
      checked = checked.withColumn("reason", when(col("reason").isNull().and(row_number().over(sameId).gt(1)),
          duplicate).otherwise(col("reason")))
          .persist(StorageLevel.MEMORY_AND_DISK());
      try {
        List<Column> goodCols = new ArrayList<>(List.of(col("id"), col("values").as("embedding")));
        for (int i = 0; i < kept.size(); i++) {
          goodCols.add(col(keptName(i)).as(kept.get(i)));
        }
        Dataset<Row> good = checked.filter(col("reason").isNull()).select(goodCols.toArray(Column[]::new));
        if (r.layout().equals("binary")) {
          StructField[] fields = good.schema().fields().clone();
          fields[1] = new StructField("embedding", DataTypes.BinaryType, false, Metadata.empty());
          StructType binSchema = new StructType(fields);
          good = good.map((MapFunction<Row, Row>) row -> {
            Object[] v = new Object[row.size()];
            for (int i = 0; i < v.length; i++) {
              v[i] = i == 1 ? pack(row.getList(1)) : row.get(i);
            }
            return RowFactory.create(v);
          }, Encoders.row(binSchema));
        }
        Dataset<Row> bad = checked.filter(col("reason").isNotNull()).select(
            col("id").cast("string").as("id"), col("reason"), col("source_file"), col("pos").as("source_line"));
        long imported = good.count();
        long rejected = bad.count();
        if (rowsIn != imported + rejected) {
          throw new JouleException(JouleException.OTHER, "reconciliation failed, nothing written: in "
              + rowsIn + " != imported " + imported + " + rejected " + rejected);
        }
        Map<String, Long> reasons = new TreeMap<>();
        for (Row x : bad.groupBy(substring_index(col("reason"), ":", 1)).count().collectAsList()) {
          reasons.put(x.getString(0), x.getLong(1));
        }
        if (imported == 0) {
          throw JouleException.input(allRejected(r, rowsIn, reasons, bad));
        }
        TableCommit commit = new TableCommit(spark);
        try {
          commit.overwrite(r.out(), good);
          commit.overwriteRejects(r.rejects(), bad, rejected);
        } catch (Throwable e) { // a SparkException (checked in Java terms) or an Error (a full disk: FSError)
          commit.rollback();
          throw e;
        }
        return new Result(rowsIn, imported, rejected, dim, reasons, r.out(), r.rejects(), kept);
      } finally {
        checked.unpersist();
      }
    } finally {
      parsed.unpersist();
    }
  }

  /**
   * The input's rows with their file, position (CSV and JSON lines: the line a record starts on;
   * Parquet: the row's number in its file, from 1) and, for a record that could not be read, why.
   */
  private Dataset<Row> read(String format, String input) {
    switch (format) {
      case "parquet":
        return spark.read().parquet(input)
            .withColumn(TextInputs.FILE, col("_metadata.file_path"))
            .withColumn(TextInputs.POS, col("_metadata.row_index").plus(1))
            .withColumn(TextInputs.MALFORMED, lit(null).cast(DataTypes.StringType));
      case "jsonl":
      case "json":
        return TextInputs.jsonLines(spark, input);
      case "csv":
        return TextInputs.csv(spark, input);
      default:
        throw JouleException.usage("--format must be parquet, csv or jsonl, got " + format);
    }
  }

  /** What the position of a row is called in a reason. */
  private static String unit(String format) {
    return format.equals("parquet") ? "row" : "line";
  }

  private static Column display(Column file) {
    return regexp_replace(file, "^file:(//)?", "");
  }

  /** An id of a type Joule does not keep (binary, decimal, date, ...) as a string; bytes as lowercase hex. */
  static String idText(Object id) {
    return id instanceof byte[] b ? HexFormat.of().formatHex(b) : String.valueOf(id);
  }

  /** The error of an import that rejected every row: how many for each reason, and the first of them. */
  private static String allRejected(Request r, long rowsIn, Map<String, Long> reasons, Dataset<Row> bad) {
    StringBuilder counts = new StringBuilder();
    reasons.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue(), a.getValue())).forEach(e ->
        counts.append(counts.length() == 0 ? "" : ", ").append(e.getKey()).append(' ')
            .append(String.format(java.util.Locale.ROOT, "%,d", e.getValue())));
    Row first = bad.orderBy(col("source_file"), col("source_line")).select("reason", "source_file", "source_line").head();
    String at = unit(r.format()) + " " + first.get(2) + " of " + TextInputs.display(first.getString(1));
    String where = first.getString(0).contains(at) ? "" : " (" + at + ")";
    return "every row of input " + r.input() + " was rejected (" + String.format(java.util.Locale.ROOT, "%,d", rowsIn)
        + ": " + counts + "), so nothing was written; the first: " + first.getString(0) + where;
  }

  private static int inferDim(Dataset<Row> parsed) {
    List<Row> top = parsed.filter(col("reason").isNull()).groupBy(size(col("values")).as("d"))
        .count().orderBy(col("count").desc(), col("d")).limit(1).collectAsList();
    if (top.isEmpty()) {
      throw JouleException.input("no row has a readable embedding, so the dimension cannot be "
          + "inferred; pass --dim");
    }
    return top.get(0).getInt(0);
  }

  /** The input columns the embedding is read from: the named column, or its per-dimension columns. */
  static List<String> embeddingColumns(String col, List<String> names) {
    if (names.contains(col)) {
      return List.of(col);
    }
    Pattern p = Pattern.compile(Pattern.quote(col) + "(\\d+)");
    return names.stream().filter(n -> p.matcher(n).matches()).toList();
  }

  private static String keptName(int i) {
    return "_joule_keep_" + i;
  }

  /**
   * The other columns the imported table keeps: every one (input order) unless {@code --keep}
   * names some (its order). The id and embedding columns are consumed; a kept column named like
   * the table's own {@code id} or {@code embedding} is a usage error, as is a name not in the input.
   */
  static List<String> kept(Request r, List<String> names, List<String> consumed) {
    java.util.Set<String> notKept = new java.util.HashSet<>(consumed);
    notKept.add(r.idCol());
    notKept.add(CORRUPT);
    java.util.LinkedHashSet<String> out = new java.util.LinkedHashSet<>();
    if (r.keep() == null) {
      names.stream().filter(n -> !notKept.contains(n)).forEach(out::add);
    } else {
      List<String> others = names.stream().filter(n -> !notKept.contains(n)).toList();
      for (String k : r.keep()) {
        String name = k.trim();
        if (name.isEmpty()) {
          continue;
        }
        if (notKept.contains(name) && !name.equals(CORRUPT)) {
          throw JouleException.usage("--keep " + name + ": that column is read as the "
              + (name.equals(r.idCol()) ? "id" : "embedding") + "; it is in the table as '"
              + (name.equals(r.idCol()) ? "id" : "embedding") + "' already");
        }
        if (!others.contains(name)) {
          throw JouleException.usage("--keep " + name + ": input " + r.input() + " has no column '" + name
              + "' (other columns: " + (others.isEmpty() ? "none" : String.join(", ", others)) + ")");
        }
        out.add(name);
      }
    }
    for (String n : out) {
      if (n.equalsIgnoreCase("id") || n.equalsIgnoreCase("embedding")) {
        List<String> rest = out.stream().filter(x -> !x.equals(n)).toList();
        throw JouleException.usage("input column '" + n + "' cannot be kept: the imported table's own "
            + n.toLowerCase(java.util.Locale.ROOT) + " column has that name; list the columns to keep without it: "
            + "--keep " + (rest.isEmpty() ? "''" : String.join(",", rest)));
      }
    }
    return List.copyOf(out);
  }

  private static List<String> visible(List<String> names) {
    return names.stream().filter(n -> !n.equals(CORRUPT) && !TextInputs.INTERNAL.contains(n)).toList();
  }

  static byte[] pack(List<Object> values) {
    ByteBuffer b = ByteBuffer.allocate(values.size() * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (Object v : values) {
      b.putFloat(((Number) v).floatValue());
    }
    return b.array();
  }

  /** The result of reading one row's embedding: values, or the reason it cannot be read. */
  record Parsed(float[] values, String reason) {
    static Parsed bad(String reason) {
      return new Parsed(null, reason);
    }
  }

  /** How to read the embedding out of a raw row. Serializable: it runs on executors. */
  interface Source extends java.io.Serializable {
    Parsed parse(Row row);
  }

  /** {@code x} as a float into {@code v[i]}, or why it does not fit: a finite value beyond the float range. */
  private static String narrowed(Number x, float[] v, int i, String col) {
    v[i] = x.floatValue();
    return Float.isInfinite(v[i]) && Double.isFinite(x.doubleValue())
        ? "non_finite: " + col + "[" + i + "] = " + x + " is beyond the float range" : null;
  }

  private static Source source(Request r, StructType schema, List<String> names) {
    String col = r.embeddingCol();
    if (names.contains(col)) {
      int idx = schema.fieldIndex(col);
      DataType t = schema.apply(col).dataType();
      if (t instanceof ArrayType at && (at.elementType() instanceof NumericType
          || at.elementType() instanceof StringType)) {
        // Numbers; or JSON whose elements are not all numbers: each element must still read as one.
        boolean numeric = at.elementType() instanceof NumericType;
        return row -> {
          if (row.isNullAt(idx)) {
            return Parsed.bad("null_embedding: column " + col + " is null");
          }
          List<Object> list = row.getList(idx);
          float[] v = new float[list.size()];
          for (int i = 0; i < v.length; i++) {
            Object x = list.get(i);
            if (x == null) {
              return Parsed.bad("null_element: " + col + "[" + i + "] is null");
            }
            String bad = numeric ? narrowed((Number) x, v, i, col) : number(x.toString(), v, i, col + "[" + i + "]");
            if (bad != null) {
              return Parsed.bad(bad);
            }
          }
          return finite(v, col);
        };
      }
      if (t instanceof StringType) {
        return row -> row.isNullAt(idx) ? Parsed.bad("null_embedding: column " + col + " is null")
            : parseText(row.getString(idx), col);
      }
      if (t instanceof BinaryType) {
        return row -> {
          if (row.isNullAt(idx)) {
            return Parsed.bad("null_embedding: column " + col + " is null");
          }
          byte[] b = (byte[]) row.get(idx);
          if (b.length % 4 != 0) {
            return Parsed.bad("bad_binary_length: " + b.length + " bytes is not a whole number of float32 values");
          }
          float[] v = new float[b.length / 4];
          ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
          return finite(v, col);
        };
      }
      throw JouleException.input("column '" + col + "' has type " + t.simpleString()
          + "; expected an array of numbers, a string like \"[0.1, 0.2]\", or packed float32 binary");
    }
    // One column per dimension: <prefix><index>, ordered by index.
    Pattern p = Pattern.compile(Pattern.quote(col) + "(\\d+)");
    TreeMap<Integer, Integer> byIndex = new TreeMap<>();
    for (String n : names) {
      Matcher m = p.matcher(n);
      if (m.matches()) {
        byIndex.put(Integer.parseInt(m.group(1)), schema.fieldIndex(n));
      }
    }
    if (byIndex.isEmpty()) {
      throw JouleException.input("input " + r.input() + " has no embedding column '" + col
          + "' and no per-dimension columns '" + col + "0', '" + col + "1', … (columns: "
          + String.join(", ", visible(names)) + ")");
    }
    TreeSet<Integer> expected = new TreeSet<>();
    for (int i = 0; i < byIndex.size(); i++) {
      expected.add(i);
    }
    if (!expected.equals(byIndex.navigableKeySet())) {
      throw JouleException.input("per-dimension columns " + col + "<i> must be numbered 0.." + (byIndex.size() - 1)
          + ", found indexes " + byIndex.keySet());
    }
    int[] idxs = byIndex.values().stream().mapToInt(Integer::intValue).toArray();
    String[] colNames = new String[idxs.length];
    for (int i = 0; i < idxs.length; i++) {
      colNames[i] = schema.fieldNames()[idxs[i]];
    }
    return row -> {
      float[] v = new float[idxs.length];
      for (int i = 0; i < idxs.length; i++) {
        if (row.isNullAt(idxs[i])) {
          return Parsed.bad("null_element: column " + colNames[i] + " is empty");
        }
        Object x = row.get(idxs[i]);
        String bad = number(x.toString(), v, i, "column " + colNames[i]);
        if (bad != null) {
          return Parsed.bad(bad);
        }
      }
      return finite(v, col);
    };
  }

  /**
   * An embedding written as text: {@code [0.1, 0.2]}, or without brackets; the numbers are
   * separated by commas, else by semicolons, else by white space. An empty element is an error,
   * not skipped.
   */
  static Parsed parseText(String s, String col) {
    String t = s.trim();
    if (t.startsWith("[") && t.endsWith("]")) {
      t = t.substring(1, t.length() - 1).trim();
    }
    if (t.isEmpty()) {
      return Parsed.bad("unparseable: column " + col + " holds no numbers");
    }
    String[] parts = t.indexOf(',') >= 0 ? t.split(",", -1) : t.indexOf(';') >= 0 ? t.split(";", -1) : t.split("\\s+");
    float[] v = new float[parts.length];
    for (int i = 0; i < parts.length; i++) {
      String bad = number(parts[i], v, i, col + "[" + i + "]");
      if (bad != null) {
        return Parsed.bad(bad);
      }
    }
    return finite(v, col);
  }

  /**
   * Reads {@code text} into {@code out[i]}: null when it is a number, else the reject reason. A
   * decimal beyond the float range is {@code non_finite}; {@code nan} and {@code inf} are read (and
   * rejected as non-finite by the caller).
   */
  static String number(String text, float[] out, int i, String where) {
    String t = text.trim();
    if (t.isEmpty()) {
      return "unparseable: " + where + " is empty";
    }
    try {
      out[i] = parseNumber(t);
    } catch (NumberFormatException e) {
      return "unparseable: " + where + " value '" + abbreviate(t) + "' is not a number";
    }
    if (Float.isInfinite(out[i]) && isDecimal(t)) {
      return "non_finite: " + where + " value '" + abbreviate(t) + "' is beyond the float range";
    }
    return null;
  }

  private static String abbreviate(String t) {
    return t.length() <= 40 ? t : t.substring(0, 37) + "...";
  }

  /**
   * A float written as a plain decimal: an optional sign, digits with an optional fraction (or a
   * fraction alone), an optional exponent; also {@code nan}, {@code inf}, {@code infinity} (any
   * case, signed), as numpy and CSV writers spell them. Not Java's hex floats ({@code 0x1p3}),
   * type suffixes ({@code 1.5f}, {@code 2d}), nor anything else {@link Float#parseFloat} takes.
   */
  static float parseNumber(String text) {
    String t = text.trim();
    switch (t.toLowerCase(java.util.Locale.ROOT)) {
      case "nan":
      case "+nan":
      case "-nan":
        return Float.NaN;
      case "inf":
      case "+inf":
      case "infinity":
      case "+infinity":
        return Float.POSITIVE_INFINITY;
      case "-inf":
      case "-infinity":
        return Float.NEGATIVE_INFINITY;
      default:
        if (!isDecimal(t)) {
          throw new NumberFormatException("not a decimal number: '" + t + "'");
        }
        return Float.parseFloat(t);
    }
  }

  /** {@code [+-]?(digits[.digits?]|.digits)([eE][+-]?digits)?}, ASCII digits only. */
  static boolean isDecimal(String t) {
    int n = t.length();
    int i = 0;
    if (i < n && (t.charAt(i) == '+' || t.charAt(i) == '-')) {
      i++;
    }
    int intDigits = 0;
    while (i < n && isDigit(t.charAt(i))) {
      i++;
      intDigits++;
    }
    int fracDigits = 0;
    if (i < n && t.charAt(i) == '.') {
      i++;
      while (i < n && isDigit(t.charAt(i))) {
        i++;
        fracDigits++;
      }
    }
    if (intDigits + fracDigits == 0) {
      return false;
    }
    if (i < n && (t.charAt(i) == 'e' || t.charAt(i) == 'E')) {
      i++;
      if (i < n && (t.charAt(i) == '+' || t.charAt(i) == '-')) {
        i++;
      }
      int expDigits = 0;
      while (i < n && isDigit(t.charAt(i))) {
        i++;
        expDigits++;
      }
      if (expDigits == 0) {
        return false;
      }
    }
    return i == n;
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  private static Parsed finite(float[] v, String col) {
    for (int i = 0; i < v.length; i++) {
      if (!Float.isFinite(v[i])) {
        return Parsed.bad("non_finite: " + col + "[" + i + "] is " + v[i]);
      }
    }
    return new Parsed(v, null);
  }
}
