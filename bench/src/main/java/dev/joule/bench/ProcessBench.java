package dev.joule.bench;

import dev.joule.jobs.mllib.ReplicateJob;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.SparkSession;

/**
 * What a user pays per command: each variant is its own process, started fresh, measured by
 * {@code /usr/bin/time} (user + sys CPU of the whole process, from JVM start to exit), the
 * variants interleaved round by round. Prints the median and spread of each, and ratios of
 * medians to the MLlib program and to the bare scan. Run by {@code bench/run-process.sh}, which
 * also makes the tables; the Java programs a user would write instead (a trivial Spark program,
 * a bare scan, MLlib's transform) are the {@code child} modes of this class.
 */
public final class ProcessBench {

  private ProcessBench() {}

  public static void main(String[] args) throws Exception {
    if (args.length > 0 && args[0].equals("child")) {
      child(Arrays.copyOfRange(args, 1, args.length));
      return;
    }
    orchestrate(args);
  }

  /** A plain Spark session with Delta, as a user's own program would build it. */
  private static SparkSession session(String name) {
    return SparkSession.builder().appName(name).master("local[2]").config("spark.ui.enabled", "false")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .getOrCreate();
  }

  private static void child(String[] a) {
    switch (a[0]) {
      case "trivial-spark" -> session("trivial").stop();
      case "bare-scan" -> {
        // Read the embeddings into rows and write the ids: the floor of any job over the table.
        SparkSession spark = session("bare scan");
        spark.read().format("delta").load(a[1]).selectExpr("id", "size(embedding) AS n").selectExpr("id")
            .write().mode("overwrite").parquet(a[2]);
        spark.stop();
      }
      case "mllib" -> {
        // MLlib's LogisticRegressionModel.transform over the same table, predictions written.
        SparkSession spark = session("mllib transform");
        new ReplicateJob(spark, dev.joule.jobs.config.JouleConfig.defaults()).runMllib(
            ReplicateJob.loadMllib("org.apache.spark.ml.classification.LogisticRegressionModel", a[2]),
            spark.read().format("delta").load(a[1]), "embedding", "id", Integer.parseInt(a[4]), a[3]);
        spark.stop();
      }
      default -> throw new IllegalArgumentException("unknown child " + a[0]);
    }
  }

  /** The baselines every ratio divides by: programs a user would write instead of a Joule command. */
  private static final String TRIVIAL = "trivial Spark program (start, stop)";
  private static final String SCAN = "bare scan of the embeddings, ids written";
  private static final String MLLIB = "MLlib LogisticRegressionModel.transform";

  /** One variant: a name, the command line of its process, and environment it adds. */
  record Variant(String name, List<String> command, Map<String, String> env) {
    Variant(String name, List<String> command) {
      this(name, command, Map.of());
    }
  }

  /** {@code --dir D --rounds R --dim N --java CMD... }: the tables are already made under D by the script. */
  private static void orchestrate(String[] args) throws IOException, InterruptedException {
    Path dir = null;
    int rounds = 3;
    int dim = 384;
    long rows = 0;
    String root = ".";
    for (int i = 0; i < args.length; i += 2) {
      switch (args[i]) {
        case "--dir" -> dir = Path.of(args[i + 1]);
        case "--rounds" -> rounds = Integer.parseInt(args[i + 1]);
        case "--dim" -> dim = Integer.parseInt(args[i + 1]);
        case "--rows" -> rows = Long.parseLong(args[i + 1]);
        case "--root" -> root = args[i + 1];
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    if (dir == null) {
      throw new IllegalArgumentException("--dir is required");
    }
    // The peers run as a user would start them; joule runs with its launcher's options
    // (JOULE_JAVA_OPTS when set).
    List<String> java = peerJava(root, System.getenv().getOrDefault("PEER_JAVA_OPTS", "-Xmx4g"));
    String joule = Path.of(root, "bin/joule").toString();
    String emb = dir.resolve("gen/embeddings").toString();
    String model = dir.resolve("model/lr.json").toString();
    String out = dir.resolve("out").toString();
    List<Variant> variants = List.of(
        new Variant(TRIVIAL, cat(java, "trivial-spark")),
        new Variant("joule score, 1,000 rows, fp32", List.of(joule, "score", "--input",
            dir.resolve("tiny/embeddings").toString(), "--model", dir.resolve("tiny/teacher-model.json").toString(),
            "--precision", "fp32", "--out", out + "/tiny")),
        new Variant("joule score, 10,000 rows, fp32", List.of(joule, "score", "--input",
            dir.resolve("small/embeddings").toString(), "--model", dir.resolve("small/teacher-model.json").toString(),
            "--precision", "fp32", "--out", out + "/small")),
        new Variant(SCAN, cat(java, "bare-scan", emb, out + "/scan")),
        new Variant(MLLIB, cat(java, "mllib", emb,
            dir.resolve("model/lr.mllib").toString(), out + "/mllib", Integer.toString(dim))),
        new Variant("joule score fp32", List.of(joule, "score", "--input", emb, "--model", model, "--precision", "fp32",
            "--out", out + "/fp32")),
        new Variant("joule score int8, on the fly", List.of(joule, "score", "--input", emb, "--model", model,
            "--precision", "int8", "--out", out + "/int8")),
        new Variant("joule score int8, from codes", List.of(joule, "score", "--input",
            dir.resolve("codes-int8").toString(), "--model", model, "--out", out + "/codes")));
    String alt = System.getenv("JOULE_ALT_JAVA_OPTS");
    String altCds = System.getenv().getOrDefault("JOULE_ALT_CDS", "1");
    String peerAlt = System.getenv("PEER_ALT_JAVA_OPTS");
    String before = System.getenv("JOULE_BEFORE_ROOT");
    if (alt != null || peerAlt != null || before != null) {
      // Each joule variant (or peer) once more with other JVM options, or another checkout's
      // joule (built), interleaved with the rest.
      List<Variant> all = new ArrayList<>(variants);
      for (Variant v : variants) {
        boolean isJoule = v.command().get(0).equals(joule);
        if (isJoule && before != null) {
          List<String> command = new ArrayList<>(v.command());
          command.set(0, Path.of(before, "bin/joule").toString());
          all.add(new Variant(v.name() + " [" + before + "]", command));
        }
        if (isJoule && alt != null) {
          all.add(new Variant(v.name() + " [" + alt + (altCds.equals("0") ? ", no class-data archive" : "") + "]",
              v.command(), Map.of("JOULE_JAVA_OPTS", alt, "JOULE_CDS", altCds)));
        } else if (!isJoule && peerAlt != null) {
          List<String> command = new ArrayList<>(peerJava(root, peerAlt));
          command.addAll(v.command().subList(java.size(), v.command().size()));
          all.add(new Variant(v.name() + " [" + peerAlt + "]", command));
        }
      }
      variants = all;
    }
    Map<String, List<double[]>> measured = new LinkedHashMap<>();
    for (int r = 1; r <= rounds; r++) {
      for (Variant v : variants) {
        NightlyBench.deleteTree(Path.of(out)); // every variant writes into a fresh folder
        double[] t = timed(v, dir.resolve("time.txt"));
        measured.computeIfAbsent(v.name(), k -> new ArrayList<>()).add(t);
        System.out.printf(Locale.ROOT, "  round %d: %-42s wall %6.1f s, process CPU %6.1f s%n", r, v.name(), t[0],
            t[1]);
      }
    }
    double trivial = median(measured.get(TRIVIAL), 1);
    double mllib = median(measured.get(MLLIB), 1);
    double scan = median(measured.get(SCAN), 1);
    System.out.printf(Locale.ROOT, "%n%,d rows x %d, local[2], %d interleaved rounds, each variant a fresh process; "
        + "joule's JVM options: %s; the Java programs': %s%n%n", rows, dim, rounds,
        System.getenv().getOrDefault("JOULE_JAVA_OPTS", "bin/joule's default"),
        System.getenv().getOrDefault("PEER_JAVA_OPTS", "-Xmx4g"));
    System.out.println("joule's class-data archive (bin/joule, JOULE_CDS): written by one unmeasured 1,000-row joule "
        + "score before the rounds, as a user's first command writes it");
    System.out.println("| variant | wall s (median) | process CPU s (median) | spread (min-max) | CPU vs MLlib "
        + "| CPU vs bare scan | CPU vs trivial Spark |");
    System.out.println("| --- | --- | --- | --- | --- | --- | --- |");
    for (Variant v : variants) {
      List<double[]> m = measured.get(v.name());
      double cpu = median(m, 1);
      System.out.printf(Locale.ROOT, "| %s | %.1f | %.1f | %.1f-%.1f | %.2f | %.2f | %.2f |%n", v.name(), median(m, 0),
          cpu, m.stream().mapToDouble(x -> x[1]).min().orElse(0), m.stream().mapToDouble(x -> x[1]).max().orElse(0),
          cpu / mllib, cpu / scan, cpu / trivial);
    }
    System.out.println("\nprocess CPU = user + sys of the whole process (/usr/bin/time), JVM start to exit; "
        + "ratios are of medians from this run on this machine only.");
  }

  /** The command line of a peer Java program, up to its {@code child} mode's arguments. */
  static List<String> peerJava(String root, String javaOpts) throws IOException {
    List<String> java = new ArrayList<>(List.of("java"));
    java.addAll(Arrays.asList(Files.readString(Path.of(root, "jobs/target/launcher/jvm.flags")).trim().split("\\s+")));
    java.addAll(Arrays.asList(javaOpts.replace("$ROOT", root).trim().split("\\s+")));
    java.addAll(List.of("-Dlog4j2.configurationFile=" + Path.of(root, "conf/log4j2.properties"), "-cp",
        System.getProperty("java.class.path"), ProcessBench.class.getName(), "child"));
    return java;
  }

  private static List<String> cat(List<String> a, String... b) {
    List<String> out = new ArrayList<>(a);
    out.addAll(List.of(b));
    return out;
  }

  /** {wall s, user + sys s} of one process, which must exit 0. */
  static double[] timed(Variant v, Path timeFile) throws IOException, InterruptedException {
    List<String> command = v.command();
    List<String> cmd = new ArrayList<>(List.of("/usr/bin/time", "-f", "%e %U %S", "-o", timeFile.toString()));
    cmd.addAll(command);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(timeFile.resolveSibling("processes.log").toFile()));
    pb.environment().putAll(v.env());
    Process p = pb.start();
    int rc = p.waitFor();
    if (rc != 0) {
      throw new IllegalStateException("exit " + rc + ": " + String.join(" ", command) + " (see "
          + timeFile.resolveSibling("processes.log") + ")");
    }
    String[] f = Files.readString(timeFile).trim().split("\\s+");
    int n = f.length;
    return new double[] {Double.parseDouble(f[n - 3]), Double.parseDouble(f[n - 2]) + Double.parseDouble(f[n - 1])};
  }

  private static double median(List<double[]> m, int i) {
    double[] v = m.stream().mapToDouble(x -> x[i]).sorted().toArray();
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }
}
