package dev.joule.jobs.config;

import java.nio.file.Path;
import java.util.regex.Pattern;
import picocli.CommandLine;

/**
 * Table and folder paths as Spark, Delta and Hadoop need them: a URI with a scheme
 * ({@code s3a://}, {@code abfs://}, {@code file:/}) stays as it is; a path without one is
 * qualified the way Hadoop reads it: against the working folder where the default file system
 * is local (the embedded default), else against that file system's working folder (on HDFS,
 * {@code hdfs://nn/user/NAME/...}). Delta's SQL path identifiers ({@code delta.`path`}) take
 * only absolute paths, so every path option and path key is qualified once, where it is parsed.
 */
public final class DataPaths {

  /** A URI scheme of two or more characters, so a Windows drive letter is not taken for one. */
  private static final Pattern SCHEME = Pattern.compile("^[A-Za-z][A-Za-z0-9+.-]+:.*");

  private DataPaths() {}

  /** {@code path} made absolute, or unchanged when it has a scheme; null and "" stay as they are. */
  public static String qualify(String path) {
    if (path == null || path.isBlank() || SCHEME.matcher(path).matches()) {
      return path;
    }
    java.net.URI fs = DefaultFileSystem.URI;
    if (fs == null || fs.getScheme() == null || fs.getScheme().equals("file")) {
      return Path.of(path).toAbsolutePath().normalize().toString();
    }
    try {
      return org.apache.hadoop.fs.FileSystem.get(fs, DefaultFileSystem.CONF)
          .makeQualified(new org.apache.hadoop.fs.Path(path)).toString();
    } catch (java.io.IOException | RuntimeException e) {
      return path; // Hadoop resolves it when it is read; only SQL path identifiers need more
    }
  }

  /**
   * Hadoop's configuration as the driver sees it before a Spark session: core-site.xml on the
   * classpath ({@code HADOOP_CONF_DIR}), then {@code spark.hadoop.*} system properties
   * (spark-submit's {@code --conf}). Read once per JVM and shared: callers only read it.
   */
  static org.apache.hadoop.conf.Configuration driverHadoopConf() {
    return DefaultFileSystem.CONF;
  }

  /** Hadoop's default file system from {@link #driverHadoopConf()}. */
  private static final class DefaultFileSystem {
    static final org.apache.hadoop.conf.Configuration CONF = conf();
    static final java.net.URI URI = org.apache.hadoop.fs.FileSystem.getDefaultUri(CONF);

    private static org.apache.hadoop.conf.Configuration conf() {
      org.apache.hadoop.conf.Configuration c = new org.apache.hadoop.conf.Configuration();
      for (String k : System.getProperties().stringPropertyNames()) {
        if (k.startsWith("spark.hadoop.")) {
          c.set(k.substring("spark.hadoop.".length()), System.getProperty(k));
        }
      }
      return c;
    }
  }

  /** Picocli converter for path options: {@code @Option(converter = DataPaths.Option.class)}. */
  public static final class Option implements CommandLine.ITypeConverter<String> {
    @Override
    public String convert(String value) {
      return qualify(value);
    }
  }
}
