package dev.joule.jobs.mllib;

import static org.apache.spark.sql.functions.col;

import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.imports.MllibImport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.classification.LogisticRegression;
import org.apache.spark.ml.classification.MultilayerPerceptronClassifier;
import org.apache.spark.ml.clustering.KMeans;
import org.apache.spark.ml.feature.StringIndexer;
import org.apache.spark.ml.feature.StringIndexerModel;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code joule train}: trains an MLlib model on an embeddings table, saves it with MLlib's own
 * {@code save} (the conventional model, for {@code joule replicate} and for anyone who wants it),
 * and imports it as a Joule model file. Class labels are the label column's values, indexed in
 * alphabetical order, so predictions carry the names the data has.
 */
public final class TrainJob {

  private static final Logger LOG = LoggerFactory.getLogger(TrainJob.class);

  /**
   * @param algo lr, mlp or kmeans
   * @param hidden mlp hidden units
   * @param k kmeans clusters
   */
  public record Request(String input, String labelCol, String algo, Path out, String mllibOut, int hidden, int k,
      int maxIter, double regParam, long seed) {}

  public record Result(MllibImport.Imported imported, String mllibPath, long rowsIn, long rowsUsed,
      List<String> labels, double trainingAccuracy, double seconds) {}

  private final SparkSession spark;
  private final JouleConfig config;

  public TrainJob(SparkSession spark, JouleConfig config) {
    this.spark = spark;
    this.config = config;
  }

  public Result run(Request r) {
    String algo = r.algo().toLowerCase(Locale.ROOT);
    if (!List.of("lr", "mlp", "kmeans").contains(algo)) {
      throw JouleException.usage("--algo must be lr, mlp or kmeans, got '" + r.algo() + "'");
    }
    boolean supervised = !algo.equals("kmeans");
    DeltaIO.Pinned pinned = DeltaIO.readPinned(spark, r.input(), "input");
    String embCol = config.string("score.embedding-col");
    List<String> columns = Arrays.asList(pinned.data().columns());
    if (!columns.contains(embCol)) {
      throw JouleException.input("input table " + r.input() + " has no column '" + embCol + "' (columns: "
          + String.join(", ", columns) + ")");
    }
    if (supervised && (r.labelCol() == null || !columns.contains(r.labelCol()))) {
      throw (r.labelCol() == null ? JouleException.usage("--label-col is required for --algo " + algo)
          : JouleException.input("input table " + r.input() + " has no label column '" + r.labelCol()
              + "' (columns: " + String.join(", ", columns) + ")"));
    }
    long t0 = System.nanoTime();
    Dataset<Row> data = pinned.data();
    long rowsIn = data.count();
    int dim;
    try {
      dim = MllibFeatures.commonDim(data, embCol);
    } catch (IllegalArgumentException e) {
      throw JouleException.input("input table " + r.input() + ": " + e.getMessage());
    }
    if (dim == 0) {
      throw JouleException.input("input table " + r.input() + " has no embeddings to train on");
    }
    Dataset<Row> rows = MllibFeatures.withFeatures(data, embCol, dim);
    List<String> labels = null;
    if (supervised) {
      rows = rows.filter(col(r.labelCol()).isNotNull())
          .select(col("features"), col(r.labelCol()).cast(DataTypes.StringType).as("_joule_label"));
      StringIndexerModel indexer = new StringIndexer().setInputCol("_joule_label").setOutputCol("label")
          .setStringOrderType("alphabetAsc").fit(rows);
      labels = List.of(indexer.labelsArray()[0]);
      if (labels.size() < 2) {
        throw JouleException.input("label column '" + r.labelCol() + "' has " + labels.size()
            + " distinct value(s); a classifier needs at least 2");
      }
      rows = indexer.transform(rows);
    }
    rows = rows.select(supervised ? new org.apache.spark.sql.Column[] {col("features"), col("label")}
        : new org.apache.spark.sql.Column[] {col("features")}).cache();
    try {
      long used = rows.count();
      if (used == 0) {
        throw JouleException.input("input table " + r.input() + " has no row MLlib can train on (valid "
            + dim + "-d embedding" + (supervised ? " and a label" : "") + ")");
      }
      LOG.info("training {} on {} of {} rows ({} dims{})", algo, used, rowsIn, dim,
          supervised ? ", " + labels.size() + " classes" : ", k = " + r.k());
      Model<?> model = switch (algo) {
        case "lr" -> new LogisticRegression().setMaxIter(r.maxIter()).setRegParam(r.regParam()).fit(rows);
        case "mlp" -> new MultilayerPerceptronClassifier().setLayers(new int[] {dim, r.hidden(), labels.size()})
            .setMaxIter(r.maxIter()).setSeed(r.seed()).fit(rows);
        default -> new KMeans().setK(r.k()).setMaxIter(r.maxIter()).setSeed(r.seed()).fit(rows);
      };
      double accuracy = Double.NaN;
      if (supervised) {
        Row acc = model.transform(rows).selectExpr("avg(CASE WHEN prediction = label THEN 1.0D ELSE 0.0D END)").head();
        accuracy = acc.getDouble(0);
      }
      String mllibOut = r.mllibOut() != null ? r.mllibOut()
          : r.out().toAbsolutePath().toString().replaceAll("\\.json$", "") + ".mllib";
      try {
        ((MLWritable) model).write().overwrite().save(mllibOut);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException("cannot save the MLlib model to " + mllibOut, e);
      }
      MllibImport.Imported imported = new MllibImport(spark).run(mllibOut, r.out(), labels);
      return new Result(imported, mllibOut, rowsIn, used, labels == null ? List.of() : labels, accuracy,
          (System.nanoTime() - t0) / 1e9);
    } finally {
      rows.unpersist();
    }
  }
}
