package dev.joule.jobs;

import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.model.ModelFileException;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.jobs.config.DataPaths;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.config.JouleSpark;
import dev.joule.jobs.console.ConsoleLog;
import dev.joule.jobs.console.ConsoleProgress;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.imports.ImportJob;
import dev.joule.jobs.model.ReferenceSet;
import dev.joule.jobs.nightly.NightlyJob;
import dev.joule.jobs.quantize.QuantizeJob;
import dev.joule.jobs.report.ClaimCard;
import dev.joule.jobs.report.ReportJob;
import dev.joule.jobs.score.PrecisionChoice;
import dev.joule.jobs.score.ScoreJob;
import dev.joule.jobs.score.ScoreResult;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Function;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine;

/** The {@code joule} command line. */
@Command(name = "joule", mixinStandardHelpOptions = true, version = "joule 0.1.0",
    description = "Energy-accounted batch inference on Apache Spark.",
    subcommands = {Main.Generate.class, Main.Import.class, Main.Embed.class, Main.Quantize.class, Main.Score.class,
        Main.Nightly.class, Main.Backfill.class, Main.Report.class, Main.ModelCommand.class, Main.Train.class,
        Main.Replicate.class, Main.Demo.class, SubmitCommand.class,
        dev.joule.bridge.flight.AcceleratorNodeMain.class, dev.joule.bridge.energy.meter.CalibrateMain.class},
    footer = {"", "Exit codes: 0 done (or already done), 1 other failure, 2 usage or configuration,",
        "3 input data problem, 4 quality gate failed, 5 concurrent run or conflict."})
public final class Main implements Runnable {

  @Option(names = "--conf", scope = ScopeType.INHERIT, paramLabel = "FILE",
      description = "Job config (HOCON); defaults are in reference.conf.")
  Path conf;

  /** The {@code --set} values of each command level, the top level's first. */
  private final List<List<String>> setLevels = new ArrayList<>();

  /**
   * picocli hands an inherited option's values to this one setter level by level: an empty list
   * as it starts a level, then that level's values so far. A plain list field kept only the last
   * level's, so {@code joule --set a=1 nightly --set b=2} lost {@code a=1}.
   */
  @Option(names = "--set", scope = ScopeType.INHERIT, paramLabel = "KEY=VALUE",
      description = "Override one config key, e.g. --set score.batch-rows=4096 (repeatable).")
  void set(List<String> values) {
    if (values.isEmpty() || setLevels.isEmpty()) {
      setLevels.add(new ArrayList<>());
    }
    List<String> level = setLevels.get(setLevels.size() - 1);
    level.clear();
    level.addAll(values);
  }

  /** Every {@code --set}, in the order given: before the command, then the command's own (later wins). */
  List<String> sets() {
    return setLevels.stream().flatMap(List::stream).toList();
  }

  @Option(names = "--profile", scope = ScopeType.INHERIT,
      description = "After the command, list the Spark jobs it ran with their task CPU and wall time (stderr).")
  boolean profile;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "a command is required");
  }

  JouleConfig config() {
    return JouleConfig.load(conf, sets());
  }

  /** Runs {@code body} in a Spark session: the active one if a caller has one, else a new one it stops. */
  <T> T withSpark(String app, Function<SparkSession, T> body) {
    JouleConfig cfg = config();
    boolean existed = SparkSession.getActiveSession().isDefined()
        || SparkSession.getDefaultSession().isDefined();
    // The console's progress: phases (starting Spark, planning, scoring, ...), rows and rate.
    String command = ConsoleProgress.command(app);
    ConsoleProgress progress = ConsoleProgress.start(command, cfg.string("progress"), existed ? "planning" : "starting Spark");
    boolean done = false;
    SparkSession spark = null;
    dev.joule.jobs.console.SparkJobProfile jobs = null;
    try {
      spark = JouleSpark.session(cfg, app);
      jobs = profile ? dev.joule.jobs.console.SparkJobProfile.attach(spark) : null;
      progress.attach(spark);
      ConsoleProgress.phase(ConsoleProgress.firstPhase(command), ConsoleProgress.firstPhaseRows(command));
      T result = body.apply(spark);
      done = true;
      return result;
    } finally {
      if (done) {
        progress.close();
      } else {
        progress.abandon();
      }
      if (jobs != null) {
        jobs.print(spark, System.err);
      }
      if (!existed && spark != null) {
        spark.stop();
      }
    }
  }

  static PrintStream out() {
    return System.out;
  }

  @Command(name = "model", mixinStandardHelpOptions = true, description = "Bring models into Joule.",
      subcommands = {Main.ModelImport.class})
  static final class ModelCommand implements Runnable {
    @CommandLine.ParentCommand Main parent;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
      throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required: import");
    }
  }

  @Command(name = "import", mixinStandardHelpOptions = true,
      description = "Turn a Spark MLlib model saved with model.save(path) (LogisticRegressionModel, "
          + "MultilayerPerceptronClassificationModel with one hidden layer, KMeansModel) into a Joule model file "
          + "with the same probabilities, predictions or nearest clusters.")
  static final class ModelImport implements Callable<Integer> {
    @CommandLine.ParentCommand ModelCommand model;
    @Option(names = "--mllib", required = true, paramLabel = "PATH", converter = DataPaths.Option.class, description = "the folder MLlib's model.save(path) wrote") String mllib;
    @Option(names = {"--out", "--output"}, required = true, paramLabel = "FILE", description = "the Joule model file to write (JSON)") Path out;

    @Override
    public Integer call() {
      dev.joule.jobs.imports.MllibImport.Imported m = model.parent.withSpark("joule model import",
          spark -> new dev.joule.jobs.imports.MllibImport(spark).run(mllib, out));
      out().printf(Locale.ROOT, "imported %s as a %s model (dim %d, %d outputs): %s%n",
          m.mllibClass().substring(m.mllibClass().lastIndexOf('.') + 1), m.op(), m.dim(), m.outputs(), m.file());
      return 0;
    }
  }

  @Command(name = "train", mixinStandardHelpOptions = true,
      description = "Train a Spark MLlib model on an embeddings table (logistic regression, a one-hidden-layer "
          + "perceptron, or k-means), save it with MLlib's own save (--mllib-out) and as a Joule model file (--out).")
  static final class Train implements Callable<Integer> {
    @CommandLine.ParentCommand Main parent;
    @Option(names = "--input", required = true, paramLabel = "DIR", converter = DataPaths.Option.class, description = "the embeddings Delta table (with a label column for lr and mlp)") String input;
    @Option(names = "--label-col", paramLabel = "C", description = "label column (lr, mlp); its values become the class labels; default label") String labelCol;
    @Option(names = "--algo", defaultValue = "lr", description = "lr, mlp or kmeans") String algo;
    @Option(names = {"--out", "--output"}, required = true, paramLabel = "FILE", description = "the Joule model file to write") Path out;
    @Option(names = "--mllib-out", paramLabel = "PATH", converter = DataPaths.Option.class, description = "the MLlib model folder; default FILE without .json, plus .mllib") String mllibOut;
    @Option(names = "--hidden", defaultValue = "32", description = "mlp: hidden units") int hidden;
    @Option(names = "--k", defaultValue = "10", description = "kmeans: clusters") int k;
    @Option(names = "--max-iter", defaultValue = "100", description = "MLlib's maxIter") int maxIter;
    @Option(names = "--reg", defaultValue = "0.001", description = "lr: L2 regularization (MLlib's regParam)") double reg;
    @Option(names = "--seed", defaultValue = "42", description = "seed for mlp and kmeans") long seed;

    @Override
    public Integer call() {
      JouleConfig cfg = parent.config();
      dev.joule.jobs.mllib.TrainJob.Result r = parent.withSpark("joule train", spark -> new dev.joule.jobs.mllib.TrainJob(spark, cfg)
          .run(new dev.joule.jobs.mllib.TrainJob.Request(input, labelCol, algo, out, mllibOut, hidden, k, maxIter, reg, seed)));
      var m = r.imported();
      out().printf(Locale.ROOT, "trained %s on %,d of %,d rows in %.1f s%s%n", m.mllibClass().substring(m.mllibClass().lastIndexOf('.') + 1),
          r.rowsUsed(), r.rowsIn(), r.seconds(), Double.isNaN(r.trainingAccuracy()) ? ""
              : String.format(Locale.ROOT, " (MLlib training-set accuracy %.4f, %d classes)", r.trainingAccuracy(), r.labels().size()));
      out().printf("MLlib model: %s%nJoule model (%s, dim %d, %d outputs): %s%n", r.mllibPath(), m.op(), m.dim(), m.outputs(), m.file());
      return 0;
    }
  }

  @Command(name = "replicate", mixinStandardHelpOptions = true,
      description = "On the same rows in one run: MLlib's transform (the conventional baseline), Joule fp32 and each "
          + "precision; prints agreement with MLlib, probability errors, rows/s, task CPU and estimated energy per 1k "
          + "rows, each as a ratio to MLlib.")
  static final class Replicate implements Callable<Integer> {
    @CommandLine.ParentCommand Main parent;
    @Option(names = "--input", required = true, paramLabel = "DIR", converter = DataPaths.Option.class, description = "the embeddings Delta table") String input;
    @Option(names = "--mllib", paramLabel = "PATH", converter = DataPaths.Option.class, description = "MLlib model folder: the baseline (and the model, unless --model)") String mllib;
    @Option(names = "--model", paramLabel = "FILE", description = "Joule model file; without --mllib the baseline is Joule fp32") Path model;
    @Option(names = "--precisions", defaultValue = "fp32,int8,int4", split = ",", description = "the precisions to compare, comma-separated") List<String> precisions;
    @Option(names = "--sample", paramLabel = "N", description = "use N rows (the smallest id hashes) instead of the whole input") Long sample;
    @Option(names = "--warmup-rows", defaultValue = "5000", description = "rows each variant scores once, unmeasured, first") long warmupRows;
    @Option(names = "--work", paramLabel = "DIR", defaultValue = "joule-data/replicate-work", converter = DataPaths.Option.class, description = "scratch folder (removed at the end)") String work;
    @Option(names = "--summary-json", paramLabel = "FILE", description = "also write the comparison as JSON") Path summaryJson;

    @Override
    public Integer call() {
      List<Precision> ps = new ArrayList<>();
      for (String p : precisions) {
        ps.add(precision(p.trim()));
      }
      JouleConfig cfg = parent.config();
      dev.joule.jobs.mllib.ReplicateJob.Result r = parent.withSpark("joule replicate", spark ->
          new dev.joule.jobs.mllib.ReplicateJob(spark, cfg).run(new dev.joule.jobs.mllib.ReplicateJob.Request(
              input, model, mllib, ps, sample, warmupRows, work)));
      out().print(dev.joule.jobs.mllib.ReplicateJob.table(r));
      if (summaryJson != null) {
        DemoJob.writeJson(summaryJson, ClaimCard.json(dev.joule.jobs.mllib.ReplicateJob.toMap(r)));
      }
      return 0;
    }
  }

  @Command(name = "report", mixinStandardHelpOptions = true,
      description = "Write runs of output folders as a self-contained HTML report: a headline, what a run of "
          + "your size costs, the claim card(s), the precision comparison, a nightly folder's night-by-night "
          + "trend, energy and time per partition, each figure with its method. No network is needed to open it.")
  static final class Report implements Callable<Integer> {
    @CommandLine.ParentCommand Main parent;
    @Option(names = "--runs", required = true, split = ",", paramLabel = "DIR", converter = DataPaths.Option.class, description = "the --out folder of score or nightly runs; several, comma-separated, to compare runs written to different folders (e.g. a codes table's run with its source's fp32 run)") List<String> runs;
    @CommandLine.ArgGroup(exclusive = true, multiplicity = "0..1") Which which;
    @Option(names = {"--out", "--output"}, required = true, paramLabel = "FILE.html", description = "the HTML file to write") Path out;

    static final class Which {
      @Option(names = "--run", paramLabel = "ID", description = "one run, by run id") String run;
      @Option(names = "--latest", description = "the latest committed run (the default)") boolean latest;
      @Option(names = "--compare", arity = "2..*", paramLabel = "ID", description = "a baseline run id, then one or more candidates: runs of the same rows and model (a codes table's run counts as a run of the source version it was quantized from)") List<String> compare;
    }

    @Override
    public Integer call() {
      Which w = which == null ? new Which() : which;
      Path file = parent.withSpark("joule report", spark -> new ReportJob(spark, parent.config())
          .run(new ReportJob.Request(runs, w.run, w.run == null && w.compare == null, w.compare, out)).file());
      out().println("report: " + file);
      return 0;
    }
  }

  @Command(name = "generate", mixinStandardHelpOptions = true,
      description = "Write a synthetic, clustered, labelled embeddings Delta table (OUT/embeddings) "
          + "and a linear softmax teacher model that fits it (OUT/teacher-model.json).")
  static final class Generate implements Callable<Integer> {
    @CommandLine.ParentCommand Main parent;
    @Option(names = "--rows", required = true, description = "rows to generate") long rows;
    @Option(names = "--dim", required = true, description = "embedding dimension") int dim;
    @Option(names = "--classes", required = true, description = "clusters, which are the classes of the teacher model") int classes;
    @Option(names = {"--out", "--output"}, required = true, paramLabel = "DIR", converter = DataPaths.Option.class, description = "folder for embeddings/ and teacher-model.json") String out;
    @Option(names = "--layout", defaultValue = "array", description = "array (array<float>) or binary (packed float32 LE)") String layout;
    @Option(names = "--seed", defaultValue = "42", description = "the same seed gives the same data") long seed;
    @Option(names = "--noise", defaultValue = "0.3", description = "per-dimension noise std") double noise;

    @Override
    public Integer call() {
      GenerateJob.Output o = parent.withSpark("joule generate", spark -> new GenerateJob(spark)
          .run(new GenerateJob.Request(rows, dim, classes, out, layout, seed, noise)));
      out().printf(Locale.ROOT, "generated %,d rows x %d dims: %s%nteacher model (%d classes, version %s): %s%n",
          o.rows(), dim, o.embeddings(), classes, o.teacher().modelVersion(), o.model());
      return 0;
    }
  }

  @Command(name = "import", mixinStandardHelpOptions = true,
      description = "Bring existing embeddings (Parquet, CSV, JSON lines) into a Delta table Joule reads; "
          + "bad rows go to a rejects table with a reason.")
  static final class Import implements Callable<Integer> {
    @CommandLine.ParentCommand Main parent;
    @Option(names = "--format", required = true, description = "parquet, csv or jsonl") String format;
    @Option(names = "--input", required = true, paramLabel = "PATH", converter = DataPaths.Option.class, description = "a file or folder of that format") String input;
    @Option(names = "--id-col", defaultValue = "id", description = "the id column") String idCol;
    @Option(names = "--embedding-col", defaultValue = "embedding",
        description = "array/string/binary column, or for CSV the prefix of per-dimension columns (emb_ for emb_0, emb_1, ...)")
    String embeddingCol;
    @Option(names = {"--out", "--output"}, required = true, paramLabel = "DIR", converter = DataPaths.Option.class, description = "the Delta table to write") String out;
    @Option(names = "--rejects", paramLabel = "DIR", converter = DataPaths.Option.class, description = "rejects table; default OUT_rejects") String rejects;
    @Option(names = "--layout", defaultValue = "array", description = "array (array<float>) or binary (packed float32 LE)") String layout;
    @Option(names = "--dim", description = "expected dimension; default: the most common one") Integer dim;
    @Option(names = "--keep", split = ",", paramLabel = "COL[,COL...]",
        description = "the input's other columns to keep besides id and embedding; default: all of them "
            + "(CSV columns as strings); --keep '' keeps none")
    List<String> keep;

    @Override
    public Integer call() {
      String rej = rejects != null ? rejects : out.replaceAll("/+$", "") + "_rejects";
      ImportJob.Result r = parent.withSpark("joule import", spark -> new ImportJob(spark)
          .run(new ImportJob.Request(format, input, idCol, embeddingCol, out, rej, layout, dim, keep)));
      out().printf(Locale.ROOT, "in %,d, imported %,d, rejected %,d (dim %d)%n", r.rowsIn(), r.imported(),
          r.rejected(), r.dim());
      r.reasons().forEach((k, v) -> out().printf(Locale.ROOT, "  rejected %-18s %,d%n", k, v));
      out().printf("table: %s (id, embedding%s)%nrejects: %s%n", r.table(),
          r.kept().isEmpty() ? "" : ", " + String.join(", ", r.kept()), r.rejected() == 0 ? "none" : r.rejectsTable());
      return 0;
    }
  }

  @Command(name = "embed", mixinStandardHelpOptions = true,
      description = "Embed a table of texts (Delta, Parquet, CSV or JSON lines) with a local sentence encoder; "
          + "writes embeddings, rejects, energy_log and runs under OUTPUT and prints the run's claim card.")
  static final class Embed implements Callable<Integer> {
    @CommandLine.ParentCommand Main parent;
    @Option(names = "--input", required = true, paramLabel = "PATH", converter = DataPaths.Option.class, description = "a Delta table, or a file or folder of Parquet, CSV or JSON lines") String input;
    @Option(names = "--format", defaultValue = "auto", description = "auto (by _delta_log or file extension), delta, parquet, csv or jsonl") String format;
    @Option(names = "--text-col", required = true, paramLabel = "C", description = "the text column") String textCol;
    @Option(names = "--id-col", defaultValue = "id", paramLabel = "C", description = "the id column (default id)") String idCol;
    @Option(names = {"--out", "--output"}, required = true, paramLabel = "DIR", converter = DataPaths.Option.class, description = "folder for embeddings, rejects, energy_log and runs") String output;
    @Option(names = "--model", defaultValue = "all-minilm-l6-v2", description = "all-minilm-l6-v2 (fp32) or all-minilm-l6-v2-q (int8 weights)") String model;
    @Option(names = "--batch", defaultValue = "64", paramLabel = "N", description = "texts per encoder call from a task (default 64)") int batch;
    @Option(names = "--long-text", defaultValue = "truncate", description = "a text over 256 word pieces: truncate (embed its first 256, as sentence-transformers does) or reject") String longText;
    @Option(names = "--keep", split = ",", paramLabel = "COL[,COL...]",
        description = "the input's other columns to carry into the embeddings table; default: all but the text "
            + "(its hash is kept); --keep '' keeps none")
    List<String> keep;
    @Option(names = "--summary-json", paramLabel = "FILE", description = "also write the claim card as JSON") Path summaryJson;

    @Override
    public Integer call() {
      dev.joule.jobs.embed.EmbedJob.Request req;
      try { // checked before Spark starts
        req = new dev.joule.jobs.embed.EmbedJob.Request(input,
            dev.joule.jobs.embed.EmbedJob.Format.valueOf(format.trim().toUpperCase(Locale.ROOT)), textCol, idCol,
            output, dev.joule.encoder.EncoderModel.of(model), batch, dev.joule.udfs.embed.LongText.of(longText),
            keep == null ? null : keep.stream().filter(k -> !k.isBlank()).toList());
        if (batch < 1) {
          throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
        }
      } catch (IllegalArgumentException e) {
        throw JouleException.usage(e.getMessage().startsWith("No enum constant")
            ? "--format must be auto, delta, parquet, csv or jsonl, got '" + format + "'" : e.getMessage());
      }
      dev.joule.jobs.embed.EmbedJob.Result r = parent.withSpark("joule embed",
          spark -> new dev.joule.jobs.embed.EmbedJob(spark, parent.config()).run(req));
      ClaimCard card = ClaimCard.forRun(r.run(), "embedded");
      out().print(card.toText());
      r.run().rejectReasons().forEach((k, v) -> out().printf(Locale.ROOT, "  rejected %-18s %,d%n", k, v));
      if (r.truncated() > 0) {
        out().printf(Locale.ROOT, "  %,d texts over %d word pieces embedded from their first %d (their rows' tokens "
            + "column holds the full count)%n", r.truncated(), dev.joule.encoder.EncoderModel.MAX_TOKENS,
            dev.joule.encoder.EncoderModel.MAX_TOKENS);
      }
      out().printf("run %s committed: %s/{embeddings,rejects,energy_log,runs}%n", r.run().runId(), output);
      if (summaryJson != null) {
        DemoJob.writeJson(summaryJson, card.toJson());
      }
      return 0;
    }
  }

  static Precision precision(String s) {
    try {
      return Precision.parse(s);
    } catch (IllegalArgumentException e) {
      throw JouleException.usage(e.getMessage());
    }
  }

  @Command(name = "quantize", mixinStandardHelpOptions = true,
      description = "Quantize an embeddings table once into a codes table (id, codes, scale, norm, precision, "
          + "dim, embedding_hash, source_version) that score reads instead of the floats.")
  static final class Quantize implements Callable<Integer> {
    @CommandLine.ParentCommand Main parent;
    @Option(names = "--input", required = true, paramLabel = "DIR", converter = DataPaths.Option.class, description = "the embeddings Delta table") String input;
    @Option(names = "--precision", required = true, description = "int8, int4 or binary") String precision;
    @Option(names = {"--out", "--output"}, required = true, paramLabel = "DIR", converter = DataPaths.Option.class, description = "the codes Delta table to write") String output;
    @Option(names = "--rejects", paramLabel = "DIR", converter = DataPaths.Option.class, description = "rejects table; default OUT_rejects") String rejects;
    @Option(names = "--dim", description = "expected dimension; default: the most common one") Integer dim;

    @Override
    public Integer call() {
      Precision p = precision(precision);
      JouleConfig cfg = parent.config();
      String rej = rejects != null ? rejects : output.replaceAll("/+$", "") + "_rejects";
      QuantizeJob.Result r = parent.withSpark("joule quantize", spark -> new QuantizeJob(spark, cfg)
          .run(new QuantizeJob.Request(input, p, output, rej, dim)));
      out().printf(Locale.ROOT, "in %,d, quantized %,d at %s (dim %d, %d bytes per row + scale + norm, vs %d as float32), "
          + "rejected %,d; source version %d%n", r.rowsIn(), r.quantized(), p, r.dim(), p.rowBytes(r.dim()),
          4 * r.dim(), r.rejected(), r.sourceVersion());
      r.reasons().forEach((k, v) -> out().printf(Locale.ROOT, "  rejected %-18s %,d%n", k, v));
      out().printf("codes: %s%nrejects: %s%n", r.table(), r.rejected() == 0 ? "none" : r.rejectsTable());
      return 0;
    }
  }

  /** Either a model file or a reference set for top-k. */
  static final class ModelChoice {
    @Option(names = "--model", paramLabel = "FILE", description = "Joule model file (linear, mlp, centroid)") Path model;
    @Option(names = "--reference", paramLabel = "DIR", converter = DataPaths.Option.class, description = "top-k: Delta table of reference embeddings") String reference;
  }

  @Command(name = "score", mixinStandardHelpOptions = true,
      description = "Score a Delta table of embeddings (or a codes table from quantize) with a model at a "
          + "precision; writes predictions, rejects, energy_log and runs under OUTPUT and prints the run's claim card.")
  static final class Score implements Callable<Integer> {
    @CommandLine.ParentCommand Main parent;
    @Option(names = "--input", required = true, paramLabel = "DIR", converter = DataPaths.Option.class, description = "an embeddings Delta table, or a codes table from quantize") String input;
    @CommandLine.ArgGroup(exclusive = true, multiplicity = "1") ModelChoice model;
    @Option(names = "--precision", description = "fp32, int8, int4, binary, or auto (the cheapest that meets "
        + "quality.target-agreement / target-recall on a sample); default: a codes table's own precision, else int8") String precision;
    @Option(names = {"--out", "--output"}, required = true, paramLabel = "DIR", converter = DataPaths.Option.class, description = "folder for predictions, rejects, energy_log and runs") String output;
    @Option(names = "--k", description = "top-k: neighbours per row (default topk.k)") Integer k;
    @Option(names = "--metric", description = "top-k: cosine or dot (default topk.metric)") String metric;
    @Option(names = "--oversample", description = "top-k: candidates rescored per result (default topk.oversample)") Integer oversample;
    @Option(names = "--rescore", description = "top-k: auto, none, int8 or fp32 (default topk.rescore)") String rescore;
    @Option(names = "--summary-json", paramLabel = "FILE", description = "also write the claim card as JSON") Path summaryJson;
    @Option(names = "--passthrough", split = ",", paramLabel = "COL[:NAME][,...]",
        description = "input columns to carry into predictions, e.g. label:true_label (a name a predictions "
            + "column has needs :NAME); default score.passthrough (none); --passthrough '' carries none")
    List<String> passthrough;

    @Override
    public Integer call() {
      JouleConfig cfg = withPassthrough(parent.config(), passthrough);
      PrecisionChoice asked = precision != null ? PrecisionChoice.parse(precision) : null; // checked before Spark starts
      if (asked instanceof PrecisionChoice.Auto && (oversample != null || rescore != null)) {
        throw JouleException.usage("--precision auto chooses the top-k rescoring too (topk.auto-oversample); "
            + "drop --oversample and --rescore, or name a precision");
      }
      ScoreResult r;
      try {
        r = parent.withSpark("joule score", spark -> {
          // Without --precision a codes table is scored at its own precision; embeddings at int8.
          PrecisionChoice p = asked != null ? asked
              : new PrecisionChoice.Fixed(QuantizeJob.codesPrecision(spark, input).orElse(Precision.INT8));
          ModelSpec spec = model.model != null ? LinearModelFile.readAny(model.model)
              : ReferenceSet.load(spark, model.reference, cfg.string("score.id-col"), cfg.string("score.embedding-col"),
                  metric != null ? metric : cfg.string("topk.metric"), k != null ? k : cfg.integer("topk.k"),
                  oversample != null ? oversample : cfg.integer("topk.oversample"),
                  rescore != null ? rescore : cfg.string("topk.rescore"), cfg.integer("topk.max-reference-rows"));
          return new ScoreJob(spark, cfg).run(new ScoreJob.Request(input, spec, p, output, true));
        });
      } catch (dev.joule.jobs.score.QualityGate.Refused e) {
        // Exit 4 still accounts for the refused attempt: its card, and its summary.
        if (e.result() != null) {
          ClaimCard card = ClaimCard.forRun(e.result()).withProcess(ClaimCard.ProcessCost.sinceJvmStart());
          out().print(card.toText());
          out().printf("run %s refused by the quality gate: nothing published; %s%n", e.result().runId(),
              e.recorded() ? "recorded in " + output + "/runs as refused" : "its runs row could not be written (see the log)");
          if (summaryJson != null) {
            DemoJob.writeJson(summaryJson, card.toJson());
          }
        }
        throw e;
      }
      ClaimCard card = ClaimCard.forRun(r).withProcess(ClaimCard.ProcessCost.sinceJvmStart());
      out().print(card.toText());
      r.rejectReasons().forEach((k, v) -> out().printf(Locale.ROOT, "  rejected %-18s %,d%n", k, v));
      out().printf("run %s committed: %s/{predictions,rejects,energy_log,runs}%n", r.runId(), output);
      if (summaryJson != null) {
        DemoJob.writeJson(summaryJson, card.toJson());
      }
      return 0;
    }
  }

  /** {@code --passthrough} as {@code score.passthrough}; null leaves the configured list. */
  static JouleConfig withPassthrough(JouleConfig cfg, List<String> passthrough) {
    return passthrough == null ? cfg : cfg.with("score.passthrough", com.typesafe.config.ConfigValueFactory
        .fromIterable(passthrough.stream().map(String::trim).filter(x -> !x.isEmpty()).toList())
        .render(com.typesafe.config.ConfigRenderOptions.concise()));
  }

  static LocalDate date(String s, String option) {
    try {
      return LocalDate.parse(s);
    } catch (java.time.format.DateTimeParseException e) {
      throw JouleException.usage(option + " expects YYYY-MM-DD, got '" + s + "'");
    }
  }

  static void printNight(NightlyJob.Result r) {
    switch (r.status()) {
      case "already_committed" -> out().printf("night %s is already committed (run %s: %s); nothing to do "
          + "(--full recomputes it)%n", r.runKey(), r.runId(), r.sourceChanges());
      default -> {
        if (r.textRun() != null) {
          out().print(ClaimCard.forRun(r.textRun(), "embedded").toText());
          out().printf("night %s, embedding step: %s%n", r.runKey(), r.textSummary());
        }
        if (r.score() != null) {
          out().print(ClaimCard.forRun(r.score()).toText());
        }
        out().printf(Locale.ROOT, "night %s %s: %s%n"
            + "  rows in %,d = scored %,d + rejected %,d; predictions deleted %,d; source rows %,d "
            + "(%,d not recomputed)%s%n", r.runKey(), r.status().equals("dry_run") ? "DRY RUN, nothing written" : "committed",
            r.sourceChanges(), r.rowsIn(), r.scored(), r.rejected(), r.deleted(), r.sourceRows(),
            Math.max(0, r.sourceRows() - r.rowsIn()),
            r.engine() == NightlyJob.Engine.DRIVER ? "; read, scored and committed on the driver (no Spark job)" : "");
      }
    }
  }

  @Command(name = "nightly", mixinStandardHelpOptions = true,
      description = "Score only what changed in the source since the last committed night; commit exactly once "
          + "per night (run key job:model:date). Configured under joule.nightly (see conf/nightly.conf).")
  static final class Nightly implements Callable<Integer> {
    @CommandLine.ParentCommand Main parent;
    @Option(names = "--date", required = true, paramLabel = "YYYY-MM-DD", description = "the night to score") String date;
    @Option(names = "--full", description = "recompute everything, even if the night is committed") boolean full;
    @Option(names = "--dry-run", description = "score and reconcile, write nothing") boolean dryRun;
    @Option(names = "--allow-unfinished", description = "score a night whose date has not ended yet (nightly.as-of = "
        + "end-of-date; it reads the latest source version) or, as of latest, a date after today; refused without it")
    boolean allowUnfinished;

    @Override
    public Integer call() {
      LocalDate d = date(date, "--date");
      JouleConfig cfg = parent.config();
      NightlyJob.Request req = new NightlyJob.Request(d, full, dryRun, allowUnfinished);
      NightlyJob.Result onDriver = parent.nightOnDriver("joule nightly " + d, cfg, req);
      printNight(onDriver != null ? onDriver
          : parent.withSpark("joule nightly " + d, spark -> new NightlyJob(spark, cfg).runOnSpark(req)));
      return 0;
    }
  }

  /**
   * The night on the driver alone, with no Spark session ({@link dev.joule.jobs.nightly.DriverNight}),
   * or null where it is not one for the driver ({@code nightly.engine = spark}, a session that
   * would not be local, or the night's own reasons): then it runs with Spark. A Spark session
   * starts only to undo a night that failed after its first commit.
   */
  NightlyJob.Result nightOnDriver(String app, JouleConfig cfg, NightlyJob.Request req) {
    if (NightlyJob.Engine.setting(cfg) != NightlyJob.Engine.AUTO) {
      return null;
    }
    StringBuilder why = new StringBuilder();
    java.util.Optional<dev.joule.jobs.config.DriverSettings> settings =
        dev.joule.jobs.config.DriverSettings.withoutSession(cfg, why);
    if (settings.isEmpty()) {
      org.slf4j.LoggerFactory.getLogger(Main.class).info("night {}: read with Spark: {}", req.date(), why);
      return null;
    }
    String command = ConsoleProgress.command(app);
    ConsoleProgress progress = ConsoleProgress.start(command, cfg.string("progress"), "reading changes");
    boolean done = false;
    SparkSession[] started = {null};
    long cpu0 = dev.joule.jobs.score.Scoring.processCpuNanos();
    try {
      NightlyJob.Result r = new dev.joule.jobs.nightly.DriverNight(cfg, java.time.Clock.systemUTC(), settings.get(),
          io.delta.kernel.defaults.engine.DefaultEngine.create(settings.get().hadoop()),
          dev.joule.jobs.nightly.DriverNight.rollbackStarting(() -> {
            started[0] = JouleSpark.session(cfg, app + " (rollback)");
            return started[0];
          })).run(req);
      done = true;
      return r;
    } catch (dev.joule.jobs.nightly.DriverNight.NotHere e) {
      org.slf4j.LoggerFactory.getLogger(Main.class).info("night {}: read with Spark: {}", req.date(), e.getMessage());
      return null;
    } finally {
      if (done) {
        progress.close();
      } else {
        progress.abandon();
      }
      if (profile && done) {
        System.err.printf(Locale.ROOT, "--profile: 0 Spark jobs (the night ran on the driver, with no Spark session); "
            + "process CPU %.2f s since the night began%n", (dev.joule.jobs.score.Scoring.processCpuNanos() - cpu0) / 1e9);
      }
      if (started[0] != null) {
        started[0].stop();
      }
    }
  }

  @Command(name = "backfill", mixinStandardHelpOptions = true,
      description = "Run the nights from FROM to TO in order, each reading the source as it was at the end of its "
          + "date; committed nights are skipped.")
  static final class Backfill implements Callable<Integer> {
    @CommandLine.ParentCommand Main parent;
    @Option(names = "--from", required = true, paramLabel = "YYYY-MM-DD", description = "the first night") String from;
    @Option(names = "--to", required = true, paramLabel = "YYYY-MM-DD", description = "the last night (inclusive)") String to;
    @Option(names = "--allow-unfinished", description = "also score nights whose date has not ended yet (each reads "
        + "the latest source version); without it a range reaching past the last ended date is refused") boolean allowUnfinished;

    @Override
    public Integer call() {
      LocalDate a = date(from, "--from");
      LocalDate b = date(to, "--to");
      JouleConfig cfg = parent.config();
      NightlyJob.checkBackfill(cfg, java.time.Clock.systemUTC(), a, b, allowUnfinished); // before Spark starts
      parent.withSpark("joule backfill " + a + ".." + b, spark ->
          new NightlyJob(spark, cfg).backfill(a, b, allowUnfinished, Main::printNight));
      return 0;
    }
  }

  @Command(name = "demo", mixinStandardHelpOptions = true,
      description = "The whole job on the embedded default: generate data, score it with fp32 and int8 "
          + "in one run, compare, print the claim card.")
  static final class Demo implements Callable<Integer> {
    @CommandLine.ParentCommand Main parent;
    @Option(names = "--rows", defaultValue = "200000", description = "rows to generate and score") long rows;
    @Option(names = "--dim", defaultValue = "384", description = "embedding dimension") int dim;
    @Option(names = "--classes", defaultValue = "10", description = "classes of the softmax model") int classes;
    @Option(names = {"--out", "--output"}, defaultValue = "joule-data/demo", paramLabel = "DIR", converter = DataPaths.Option.class, description = "folder for the demo's tables and report") String out;
    @Option(names = "--seed", defaultValue = "42", description = "the same seed gives the same data") long seed;
    @Option(names = "--warmup-rows", defaultValue = "20000", description = "rows each path scores once, unmeasured, first") long warmupRows;
    @Option(names = "--layout", defaultValue = "array", description = "array (array<float>) or binary (packed float32 LE)") String layout;
    @Option(names = "--summary-json", paramLabel = "FILE", description = "also write the claim cards as JSON") Path summaryJson;
    @Option(names = "--data", defaultValue = "synthetic", description = "synthetic (generated clusters) or debian "
        + "(real text: Debian package descriptions, embedded first; make them with bench/data/debian-descriptions.sh)") String data;
    @Option(names = "--data-file", paramLabel = "FILE", description = "--data debian: the descriptions file; default "
        + "$JOULE_DATA_CACHE or ~/.cache/joule, debian-descriptions.jsonl") Path dataFile;

    @Override
    public Integer call() {
      JouleConfig cfg = parent.config();
      DemoJob.Data which;
      try {
        which = DemoJob.Data.valueOf(data.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw JouleException.usage("--data must be synthetic or debian, got '" + data + "'");
      }
      String cache = System.getenv("JOULE_DATA_CACHE");
      Path file = dataFile != null ? dataFile
          : (cache != null && !cache.isBlank() ? Path.of(cache) : Path.of(System.getProperty("user.home"), ".cache/joule"))
              .resolve("debian-descriptions.jsonl");
      parent.withSpark("joule demo", spark -> new DemoJob(spark, cfg, out())
          .run(new DemoJob.Request(rows, dim, classes, out, seed, warmupRows, layout, summaryJson, which, file)));
      return 0;
    }
  }

  /** Builds the command line with Joule's error handling; tests call this too. */
  public static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new Main());
    showDefaults(cl);
    // Everything after submit's COMMAND belongs to that command, options included.
    cl.getSubcommands().get("submit").setStopAtPositional(true).setUnmatchedOptionsArePositionalParams(true);
    cl.setParameterExceptionHandler(Main::usageError);
    // picocli hands only Exceptions to the handler below; an Error (Hadoop's FSError on a full
    // disk, an OutOfMemoryError) would escape with its stack trace on the console. Wrap it.
    cl.setExecutionStrategy(parsed -> {
      try {
        return new CommandLine.RunLast().execute(parsed);
      } catch (Error e) {
        List<CommandLine> cmds = parsed.asCommandLineList();
        throw new CommandLine.ExecutionException(cmds.get(cmds.size() - 1), String.valueOf(e), e);
      }
    });
    cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
      // One line per error on the console; the stack trace and every library's log lines go to
      // the run's log file (ConsoleLog), and to the console too under JOULE_DEBUG=1.
      String[] args = parsed.originalArgs().toArray(new String[0]);
      Failure f = failure(ex);
      cmd.getErr().println("joule: error: " + f.message());
      ConsoleLog.failure(args, ex, cmd.getErr(), f.hint());
      return f.code();
    });
    return cl;
  }

  /**
   * What the console gets for a failed command: one message, an exit code from the README's table
   * and whether to point at the log file.
   */
  record Failure(int code, String message, boolean hint) {}

  /** The failure a command's exception or error stands for; never throws. */
  static Failure failure(Throwable thrown) {
    Throwable ex = thrown instanceof CommandLine.ExecutionException && thrown.getCause() != null ? thrown.getCause() : thrown;
    JouleException je = find(ex, JouleException.class);
    if (je != null) {
      return new Failure(je.exitCode(), oneLine(je.getMessage()), je.getCause() != null || je.exitCode() == JouleException.OTHER);
    }
    ModelFileException mfe = find(ex, ModelFileException.class);
    if (mfe != null) {
      return new Failure(JouleException.INPUT, oneLine(mfe.getMessage()), false);
    }
    Throwable full = null;
    for (Throwable x = ex; x != null; x = x.getCause() == x ? null : x.getCause()) {
      if (x.getMessage() != null && x.getMessage().toLowerCase(Locale.ROOT).contains("no space left on device")) {
        full = x; // the deepest one says it most plainly
      }
    }
    if (full != null) {
      return new Failure(JouleException.OTHER, "no space left on device (" + firstLine(full.toString()) + ")", true);
    }
    Throwable root = ex;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    return new Failure(JouleException.OTHER, describe(ex) + (root != ex ? " (cause: " + describe(root) + ")" : ""), true);
  }

  /** The first line of a throwable's message; an Error (or one without a message) is named by its class. */
  private static String describe(Throwable t) {
    if (t.getMessage() == null) {
      return t.getClass().getSimpleName();
    }
    String m = firstLine(t.getMessage());
    return t instanceof Error && !m.startsWith(t.getClass().getName()) ? t.getClass().getSimpleName() + ": " + m : m;
  }

  /** Picocli's suggestions nearest to what was typed (edit distance), so a typo gets one answer. */
  static List<String> closest(String typed, List<String> suggestions) {
    String t = typed.contains("=") ? typed.substring(0, typed.indexOf('=')) : typed;
    int best = suggestions.stream().mapToInt(x -> editDistance(t, x)).min().orElse(0);
    return suggestions.stream().filter(x -> t.isEmpty() || editDistance(t, x) == best).toList();
  }

  private static int editDistance(String a, String b) {
    return org.apache.commons.text.similarity.LevenshteinDistance.getDefaultInstance().apply(a, b);
  }

  private static String oneLine(String message) {
    return message == null ? "" : message.replaceAll("\\R", " ");
  }

  /**
   * A usage error in one line and a pointer to --help, not the whole usage text. An unknown
   * option is named first: picocli would otherwise report the required options it then misses.
   */
  static int usageError(CommandLine.ParameterException ex, String[] args) {
    CommandLine cmd = ex.getCommandLine();
    java.io.PrintWriter err = cmd.getErr();
    List<String> unmatched = cmd.getParseResult() == null ? List.of() : cmd.getParseResult().unmatched();
    List<String> unknown = unmatched.stream().filter(a -> a.startsWith("-")).toList();
    if (!unknown.isEmpty()) {
      err.println("joule: error: unknown option" + (unknown.size() > 1 ? "s " : " ")
          + String.join(", ", unknown.stream().map(a -> "'" + a + "'").toList()) + " for " + cmd.getCommandName());
    } else {
      err.println("joule: error: " + ex.getMessage());
    }
    if (ex instanceof CommandLine.UnmatchedArgumentException u) {
      List<String> suggestions = closest(unknown.isEmpty() ? "" : unknown.get(0), u.getSuggestions());
      if (!suggestions.isEmpty()) {
        err.println("joule: did you mean " + String.join(" or ", suggestions) + "?");
      }
    }
    err.println("joule: see '" + cmd.getCommandSpec().qualifiedName() + " --help'");
    return cmd.getCommandSpec().exitCodeOnInvalidInput();
  }

  /** Every option's default is printed in --help, after its description, for every command. */
  static void showDefaults(CommandLine cl) {
    cl.getCommandSpec().usageMessage().showDefaultValues(true);
    cl.getSubcommands().values().forEach(Main::showDefaults);
  }

  private static <T extends Throwable> T find(Throwable t, Class<T> type) {
    for (Throwable x = t; x != null; x = x.getCause() == x ? null : x.getCause()) {
      if (type.isInstance(x)) {
        return type.cast(x);
      }
    }
    return null;
  }

  private static String firstLine(String m) {
    return m.lines().findFirst().orElse(m);
  }

  public static void main(String[] args) {
    ConsoleLog.setUp(args);
    int code;
    try {
      code = commandLine().execute(args);
    } catch (Throwable t) { // only if the handlers themselves fail: still one line, and exit 1
      System.err.println("joule: error: " + failure(t).message());
      code = JouleException.OTHER;
    }
    if ("cluster".equals(System.getProperty("spark.submit.deployMode"))) {
      // A driver in cluster mode (YARN's ApplicationMaster, platforms' JAR tasks) must return,
      // not exit: System.exit there is reported as a failed, retried application.
      if (code != 0) {
        throw new IllegalStateException("joule " + (args.length > 0 ? args[0] : "") + " failed with exit code " + code);
      }
      return;
    }
    dev.joule.jobs.console.ClassDataArchive.writeIfAsked(code);
    System.exit(code);
  }
}
