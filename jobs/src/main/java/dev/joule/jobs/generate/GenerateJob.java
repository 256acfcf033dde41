package dev.joule.jobs.generate;

import dev.joule.bridge.kernel.Activation;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.delta.TableCommit;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.udfs.EmbeddingColumn;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * {@code joule generate}: synthetic, labelled, clustered embeddings and the linear softmax
 * "teacher" that fits them.
 *
 * <p>Each class c has a centre μ_c (Gaussian, norm ≈ 1); a row of class c is μ_c plus isotropic
 * Gaussian noise σ. For that distribution the Bayes-optimal classifier is linear: logit_c =
 * (μ_c·x − |μ_c|²/2) / σ², which is the teacher written beside the table. Every row is drawn from
 * a generator seeded by (seed, id), so the data is the same whatever the partitioning.
 */
public final class GenerateJob {

  public record Request(long rows, int dim, int classes, String out, String layout, long seed,
      double noise) {}

  /** Where the table and the model file go under {@code out}. */
  public record Output(String embeddings, Path model, LinearModelFile teacher, long rows) {}

  private final SparkSession spark;

  public GenerateJob(SparkSession spark) {
    this.spark = spark;
  }

  public Output run(Request r) {
    if (r.rows() < 1 || r.dim() < 1 || r.classes() < 2) {
      throw JouleException.usage("need --rows >= 1, --dim >= 1 and --classes >= 2");
    }
    if (!r.layout().equals("array") && !r.layout().equals("binary")) {
      throw JouleException.usage("--layout must be array or binary, got " + r.layout());
    }
    if (!(r.noise() > 0)) {
      throw JouleException.usage("--noise must be > 0");
    }
    float[][] centres = centres(r.seed(), r.classes(), r.dim());
    List<String> labels = new ArrayList<>();
    for (int c = 0; c < r.classes(); c++) {
      labels.add(String.format(Locale.ROOT, "class_%02d", c));
    }
    boolean binary = r.layout().equals("binary");
    StructType schema = new StructType()
        .add("id", DataTypes.LongType, false)
        .add("embedding", binary ? DataTypes.BinaryType
            : DataTypes.createArrayType(DataTypes.FloatType, false), false)
        .add("label", DataTypes.StringType, false);
    int partitions = (int) Math.max(2, Math.min(64, r.rows() / 25_000));
    long seed = r.seed();
    double noise = r.noise();
    int dim = r.dim();
    MapFunction<Long, Row> makeRow = id -> {
      SplittableRandom rnd = new SplittableRandom(mix(seed, id));
      int c = rnd.nextInt(centres.length);
      float[] v = new float[dim];
      for (int i = 0; i < dim; i++) {
        v[i] = (float) (centres[c][i] + noise * rnd.nextGaussian());
      }
      return RowFactory.create(id, binary ? EmbeddingColumn.packF32le(v) : v, labels.get(c));
    };
    Dataset<Row> rows = spark.range(0, r.rows(), 1, partitions).as(Encoders.LONG())
        .map(makeRow, Encoders.row(schema));
    String table = r.out() + "/embeddings";
    dev.joule.jobs.console.ConsoleProgress.phase("generating", r.rows());
    dev.joule.jobs.delta.OutputPaths.requireWritable(spark, table, "output table");
    new TableCommit(spark).overwrite(table, rows);

    float[][] w = new float[r.classes()][dim];
    float[] b = new float[r.classes()];
    double inv = 1.0 / (noise * noise);
    for (int c = 0; c < r.classes(); c++) {
      double sq = 0;
      for (int i = 0; i < dim; i++) {
        w[c][i] = (float) (centres[c][i] * inv);
        sq += centres[c][i] * centres[c][i];
      }
      b[c] = (float) (-0.5 * sq * inv);
    }
    LinearModelFile teacher = new LinearModelFile("synthetic-teacher",
        LinearModelFile.parameterHash(w, b, labels), Activation.SOFTMAX, labels, w, b);
    Path model = Path.of(r.out(), "teacher-model.json");
    try {
      teacher.write(model);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write model file " + model, e);
    }
    return new Output(table, model, teacher, r.rows());
  }

  static float[][] centres(long seed, int classes, int dim) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[][] c = new float[classes][dim];
    double s = 1.0 / Math.sqrt(dim);
    for (float[] row : c) {
      for (int i = 0; i < dim; i++) {
        row[i] = (float) (rnd.nextGaussian() * s);
      }
    }
    return c;
  }

  /** A per-row seed: (seed, id) through SplitMix64's finalizer, so neighbours are unrelated. */
  static long mix(long seed, long id) {
    long z = seed * 0x9E3779B97F4A7C15L + id;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
