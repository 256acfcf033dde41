package dev.joule.jobs.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigValue;
import dev.joule.bridge.energy.OpsBytesModel;
import dev.joule.bridge.flight.BridgeSettings;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.jobs.JouleException;
import dev.joule.udfs.EnergySpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Job configuration: {@code reference.conf} (defaults, with conf/energy.conf included), then an
 * optional user file ({@code --conf}), then {@code spark.joule.*} Spark conf keys (spark-submit's
 * {@code --conf}, which reach the driver as system properties), then {@code --set key=value}
 * overrides, highest last.
 */
public final class JouleConfig {

  /** Spark conf keys that map onto {@code joule.*}: {@code spark.joule.score.batch-rows} is {@code joule.score.batch-rows}. */
  public static final String SPARK_PREFIX = "spark.joule.";

  private final Config config;

  private JouleConfig(Config config) {
    this.config = config;
  }

  public static JouleConfig defaults() {
    return load(null, List.of());
  }

  public static JouleConfig load(Path file, List<String> overrides) {
    try {
      Config c = ConfigFactory.defaultReference();
      if (file != null) {
        if (!Files.isRegularFile(file)) {
          throw JouleException.usage("config file not found: " + file);
        }
        try {
          c = ConfigFactory.parseFile(file.toFile(), ConfigParseOptions.defaults().setAllowMissing(false))
              .withFallback(c);
        } catch (ConfigException.Parse e) {
          // Typesafe Config reports an unclosed '{' as "expecting a close parentheses ')'".
          String unclosed = unclosedBrace(file);
          throw JouleException.usage("bad configuration: " + (unclosed != null ? unclosed : e.getMessage()));
        }
      }
      // spark-submit --conf spark.joule.KEY=VALUE reaches the driver as a system property: the
      // same key as joule.KEY in HOCON, above the file and below --set.
      java.util.TreeMap<String, String> sparkKeys = new java.util.TreeMap<>();
      // A platform's notebook or JAR task may hold them in a session it made before Joule ran.
      scala.Option<org.apache.spark.sql.SparkSession> session = org.apache.spark.sql.SparkSession.getActiveSession();
      if (session.isEmpty()) {
        session = org.apache.spark.sql.SparkSession.getDefaultSession();
      }
      if (session.isDefined()) {
        scala.jdk.javaapi.CollectionConverters.asJava(session.get().conf().getAll()).forEach((k, v) -> {
          if (k.startsWith(SPARK_PREFIX) && k.length() > SPARK_PREFIX.length()) {
            sparkKeys.put(k.substring(SPARK_PREFIX.length()), v);
          }
        });
      }
      for (String name : System.getProperties().stringPropertyNames()) {
        if (name.startsWith(SPARK_PREFIX) && name.length() > SPARK_PREFIX.length()) {
          sparkKeys.put(name.substring(SPARK_PREFIX.length()), System.getProperty(name));
        }
      }
      for (Map.Entry<String, String> e : sparkKeys.entrySet()) {
        c = ConfigFactory.parseString("joule." + e.getKey() + " = " + quoteIfNeeded(e.getValue().trim()),
            ConfigParseOptions.defaults().setOriginDescription("Spark conf " + SPARK_PREFIX + e.getKey()))
            .withFallback(c);
      }
      for (String kv : overrides) {
        int eq = kv.indexOf('=');
        if (eq <= 0) {
          throw JouleException.usage("--set expects key=value, got '" + kv + "'");
        }
        String key = kv.substring(0, eq).trim();
        key = key.startsWith("joule.") ? key : "joule." + key;
        c = ConfigFactory.parseString(key + " = " + quoteIfNeeded(kv.substring(eq + 1).trim()),
            ConfigParseOptions.defaults().setOriginDescription("--set")).withFallback(c);
      }
      c = c.resolve();
      checkKnownKeys(c);
      return new JouleConfig(qualifyPaths(c));
    } catch (ConfigException e) {
      throw JouleException.usage("bad configuration: " + e.getMessage());
    }
  }

  /**
   * "FILE: the '{' opened at line N is never closed (missing '}')", or null when the braces of
   * {@code file} balance. Quoted strings and comments are skipped.
   */
  static String unclosedBrace(Path file) {
    String text;
    try {
      text = Files.readString(file);
    } catch (java.io.IOException e) {
      return null;
    }
    java.util.ArrayDeque<Integer> open = new java.util.ArrayDeque<>();
    int line = 1;
    for (int i = 0; i < text.length(); i++) {
      char ch = text.charAt(i);
      if (ch == '\n') {
        line++;
      } else if (ch == '#' || (ch == '/' && i + 1 < text.length() && text.charAt(i + 1) == '/')) {
        while (i + 1 < text.length() && text.charAt(i + 1) != '\n') {
          i++;
        }
      } else if (ch == '"') {
        i++;
        while (i < text.length() && text.charAt(i) != '"' && text.charAt(i) != '\n') {
          i += text.charAt(i) == '\\' ? 2 : 1;
        }
      } else if (ch == '{') {
        open.push(line);
      } else if (ch == '}') {
        if (open.isEmpty()) {
          return file + ": line " + line + ": a '}' closes nothing (one '}' too many)";
        }
        open.pop();
      }
    }
    return open.isEmpty() ? null
        : file + ": the '{' opened at line " + open.peek() + " is never closed (missing '}')";
  }

  /** Keys that name a table, folder or file: qualified once here, like the CLI's path options. */
  static final List<String> PATH_KEYS = List.of("nightly.source", "nightly.text.source", "nightly.model", "nightly.reference",
      "nightly.output", "quality.reference-input", "bridge.token-file", "bridge.tls-trusted-cert");

  /** Subtrees whose keys are the user's own: Spark settings and named hardware profiles. */
  private static final List<String> FREE_FORM = List.of("spark.conf.", "energy.hardware-profiles.");

  private static Config qualifyPaths(Config c) {
    for (String key : PATH_KEYS) {
      String full = "joule." + key;
      if (c.hasPath(full) && c.getValue(full).valueType() == com.typesafe.config.ConfigValueType.STRING) {
        c = c.withValue(full, com.typesafe.config.ConfigValueFactory.fromAnyRef(DataPaths.qualify(c.getString(full))));
      }
    }
    return c;
  }

  /**
   * Every {@code joule.*} key must be one reference.conf defines: a misspelt key would otherwise
   * be ignored in silence and its default used.
   */
  private static void checkKnownKeys(Config c) {
    if (!c.hasPath("joule")) {
      return;
    }
    java.util.Set<String> known = new java.util.TreeSet<>();
    ConfigFactory.defaultReference().getConfig("joule").entrySet().forEach(e -> known.add(e.getKey()));
    for (Map.Entry<String, ConfigValue> e : c.getConfig("joule").entrySet()) {
      String key = e.getKey();
      if (known.contains(key) || FREE_FORM.stream().anyMatch(key::startsWith)) {
        continue;
      }
      String nearest = nearest(key, known);
      throw JouleException.usage("unknown configuration key joule." + key
          + (nearest == null ? "" : " (did you mean joule." + nearest + "?)")
          + " (from " + origin(e.getValue()) + ")");
    }
  }

  private static String origin(ConfigValue v) {
    return v.origin().description().replaceFirst(": 1$", "");
  }

  /** The known key closest by edit distance, or null when none is close. */
  static String nearest(String key, java.util.Collection<String> known) {
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String k : known) {
      int d = editDistance(key, k);
      if (d < bestDistance) {
        best = k;
        bestDistance = d;
      }
    }
    return bestDistance <= Math.max(3, key.length() / 3) ? best : null;
  }

  private static int editDistance(String a, String b) {
    return org.apache.commons.text.similarity.LevenshteinDistance.getDefaultInstance().apply(a, b);
  }

  /** This config with {@code joule.<key> = value} on top (value as --set takes it). */
  public JouleConfig with(String key, String value) {
    try {
      return new JouleConfig(ConfigFactory.parseString("joule." + key + " = " + quoteIfNeeded(value))
          .withFallback(config).resolve());
    } catch (ConfigException e) {
      throw JouleException.usage("bad configuration: " + e.getMessage());
    }
  }

  private static String quoteIfNeeded(String v) {
    return v.matches("-?[0-9.]+|true|false|\".*\"|\\[.*]|\\{.*}") ? v : ConfigFactory
        .parseMap(Map.of("v", v)).getValue("v").render();
  }

  public Config raw() {
    return config;
  }

  public String string(String path) {
    return get(() -> config.getString("joule." + path), path);
  }

  public int integer(String path) {
    return get(() -> config.getInt("joule." + path), path);
  }

  public long longValue(String path) {
    return get(() -> config.getLong("joule." + path), path);
  }

  public long bytes(String path) {
    return get(() -> config.getBytes("joule." + path), path);
  }

  public boolean bool(String path) {
    return get(() -> config.getBoolean("joule." + path), path);
  }

  public java.time.Duration duration(String path) {
    return get(() -> config.getDuration("joule." + path), path);
  }

  public Map<String, String> sparkConf() {
    Config extra = config.getConfig("joule.spark.conf");
    java.util.LinkedHashMap<String, String> out = new java.util.LinkedHashMap<>();
    for (Map.Entry<String, ConfigValue> e : extra.entrySet()) {
      out.put(e.getKey().replace("\"", ""), String.valueOf(e.getValue().unwrapped()));
    }
    return out;
  }

  /**
   * The Flight nodes to score on ({@code joule.bridge}), or null when {@code bridge.nodes} is
   * empty: each executor's in-process node. The token and trusted certificate are read here, on
   * the driver, and travel to executors as values.
   */
  public BridgeSettings bridgeSettings() {
    Config b = config.getConfig("joule.bridge");
    List<String> nodes;
    try {
      nodes = b.getValue("nodes").valueType() == com.typesafe.config.ConfigValueType.STRING
          ? java.util.Arrays.stream(b.getString("nodes").split(",")).map(String::trim).filter(x -> !x.isEmpty()).toList()
          : b.getStringList("nodes");
    } catch (ConfigException e) {
      throw JouleException.usage("joule.bridge.nodes must be a list of host:port: " + e.getMessage());
    }
    if (nodes.isEmpty()) {
      return null;
    }
    try {
      BridgeSettings s = new BridgeSettings(nodes, BridgeSettings.Fallback.parse(b.getString("fallback")), null,
          b.getBoolean("tls"), null, b.getDuration("stream-timeout").toMillis(),
          b.getDuration("action-timeout").toMillis(), b.getInt("window"), b.getDuration("backoff").toMillis(),
          b.getDuration("cooldown").toMillis());
      String tokenFile = b.getString("token-file");
      if (!tokenFile.isEmpty()) {
        String token = readFile("joule.bridge.token-file", tokenFile, true);
        s = s.withToken(token);
      }
      String cert = b.getString("tls-trusted-cert");
      if (!cert.isEmpty()) {
        if (!s.tls()) {
          throw JouleException.usage("joule.bridge.tls-trusted-cert is set but joule.bridge.tls is false");
        }
        s = s.withTls(readFile("joule.bridge.tls-trusted-cert", cert, false).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      }
      return s;
    } catch (ConfigException | IllegalArgumentException e) {
      throw JouleException.usage("bad joule.bridge configuration: " + e.getMessage());
    }
  }

  private static String readFile(String key, String path, boolean trim) {
    try {
      String v = java.nio.file.Files.readString(java.nio.file.Path.of(path));
      v = trim ? v.trim() : v;
      if (v.isEmpty()) {
        throw JouleException.usage(key + ": file " + path + " is empty");
      }
      return v;
    } catch (java.io.IOException e) {
      throw JouleException.usage(key + ": cannot read " + path + " (" + e.getMessage() + ")");
    }
  }

  /** Every power profile and the ops/bytes model, for executors. */
  public EnergySpec energySpec(int slotsPerExecutor) {
    try {
      Config e = config.getConfig("joule.energy");
      Config profiles = e.getConfig("hardware-profiles");
      List<PowerProfile> list = PowerProfile.listFrom(profiles);
      if (list.stream().noneMatch(PowerProfile::generic)) {
        throw JouleException.usage("joule.energy.hardware-profiles has no profile with generic = true");
      }
      return new EnergySpec(list, OpsBytesModel.fromConfig(e.getConfig("ops-bytes")), slotsPerExecutor,
          e.getString("meter"));
    } catch (ConfigException | IllegalArgumentException ex) {
      throw JouleException.usage("bad energy configuration: " + ex.getMessage());
    }
  }

  private <T> T get(java.util.function.Supplier<T> s, String path) {
    try {
      return s.get();
    } catch (ConfigException e) {
      throw JouleException.usage("bad configuration joule." + path + ": " + e.getMessage());
    }
  }
}
