package dev.joule.jobs.config;

import java.nio.file.Path;
import java.util.regex.Pattern;
import picocli.CommandLine;

/**
 * Table and folder paths as Spark, Delta and Hadoop need them: a URI with a scheme
 * ({@code s3a://}, {@code abfs://}, {@code file:/}) stays as it is; a local path becomes absolute
 * and normalized against the working folder. Delta's SQL path identifiers
 * ({@code delta.`path`}) take only absolute paths, so every path option and path key is
 * qualified once, where it is parsed.
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
    return Path.of(path).toAbsolutePath().normalize().toString();
  }

  /** Picocli converter for path options: {@code @Option(converter = DataPaths.Option.class)}. */
  public static final class Option implements CommandLine.ITypeConverter<String> {
    @Override
    public String convert(String value) {
      return qualify(value);
    }
  }
}
