package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.flight.AcceleratorNodeMain;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/** What --help and a wrong command line say. Parses only: no command runs, no Spark starts. */
class CliUsageTest {

  static List<CommandSpec> allCommands(CommandLine cl) {
    List<CommandSpec> out = new ArrayList<>(List.of(cl.getCommandSpec()));
    cl.getSubcommands().values().forEach(sub -> out.addAll(allCommands(sub)));
    return out;
  }

  @Test
  void everyOptionOfEveryCommandHasADescription() {
    List<String> missing = new ArrayList<>();
    for (CommandSpec c : allCommands(Main.commandLine())) {
      for (OptionSpec o : c.options()) {
        if (o.description().length == 0 || String.join("", o.description()).isBlank()) {
          missing.add(c.qualifiedName() + " " + o.longestName());
        }
      }
    }
    assertTrue(missing.isEmpty(), "options without a description: " + missing);
  }

  @Test
  void helpShowsEachDefault() {
    String help = Main.commandLine().getSubcommands().get("demo").getUsageMessage(CommandLine.Help.Ansi.OFF);
    assertTrue(help.contains("Default: 200000"), help);
    assertTrue(help.contains("Default: joule-data/demo"), help);
    String node = AcceleratorNodeMain.commandLine().getUsageMessage(CommandLine.Help.Ansi.OFF);
    assertTrue(node.startsWith("Usage: joule accel-node"), node);
    assertTrue(node.contains("Default: 8815"), node);
  }

  @Test
  void everyCommandThatWritesTakesOutAndOutput() {
    for (String cmd : List.of("generate", "import", "quantize", "score", "report", "train", "demo")) {
      CommandSpec spec = Main.commandLine().getSubcommands().get(cmd).getCommandSpec();
      OptionSpec out = spec.findOption("--out");
      assertTrue(out != null && out == spec.findOption("--output"), cmd + " takes --out and --output alike");
    }
    CommandSpec imp = Main.commandLine().getSubcommands().get("model").getSubcommands().get("import").getCommandSpec();
    assertTrue(imp.findOption("--output") == imp.findOption("--out"));
  }

  @Test
  void everySetIsKeptWhereverItIsGiven() {
    CommandLine cl = Main.commandLine();
    cl.parseArgs("--set", "a=1", "nightly", "--date", "2026-11-01", "--set", "b=2", "--set", "a=3");
    assertEquals(List.of("a=1", "b=2", "a=3"), ((Main) cl.getCommand()).sets(),
        "a --set before the command and the command's own, in order");
    CommandLine only = Main.commandLine();
    only.parseArgs("nightly", "--date", "2026-11-01", "--set", "b=2");
    assertEquals(List.of("b=2"), ((Main) only.getCommand()).sets());
    CommandLine before = Main.commandLine();
    before.parseArgs("--set", "a=1", "--set", "a=2", "nightly", "--date", "2026-11-01");
    assertEquals(List.of("a=1", "a=2"), ((Main) before.getCommand()).sets());
  }

  record Parsed(int code, String err) {}

  static Parsed parse(String... args) {
    CommandLine cl = Main.commandLine();
    StringWriter err = new StringWriter();
    cl.setErr(new PrintWriter(err, true));
    cl.setOut(new PrintWriter(new StringWriter(), true));
    return new Parsed(cl.execute(args), err.toString());
  }

  @Test
  void anUnknownOptionIsNamedAsUnknownBeforeAnythingMissing() {
    Parsed p = parse("score", "--bogus");
    assertEquals(2, p.code());
    assertTrue(p.err().startsWith("joule: error: unknown option '--bogus' for score"), p.err());
    assertFalse(p.err().contains("Missing required"), p.err());
    assertTrue(p.err().contains("see 'joule score --help'"), p.err());
    assertTrue(p.err().lines().count() <= 3, p.err());

    Parsed typo = parse("score", "--input", "a", "--model", "m", "--out", "o", "--precison", "int4");
    assertTrue(typo.err().contains("unknown option '--precison'"), typo.err());
    assertTrue(typo.err().contains("did you mean --precision?"), typo.err());
  }

  @Test
  void aMissingOptionIsStillSaid() {
    Parsed p = parse("quantize", "--input", "x");
    assertEquals(2, p.code());
    assertTrue(p.err().startsWith("joule: error: Missing required options"), p.err());
  }

  @Test
  void pathOptionsAreAbsoluteOnceParsed() {
    CommandLine cl = Main.commandLine();
    CommandLine.ParseResult r = cl.parseArgs("quantize", "--input", "emb", "--precision", "int8", "--out", "s3a://b/codes");
    CommandLine.ParseResult q = r.subcommand();
    String input = q.matchedOptionValue("--input", "");
    assertEquals(java.nio.file.Path.of("emb").toAbsolutePath().toString(), input);
    assertEquals("s3a://b/codes", q.matchedOptionValue("--out", ""));
  }

  /**
   * The README's CLI table and the code agree: every command has a row, and every option a row
   * names exists on that command (--help lists the rest).
   */
  @Test
  void theReadmeCliTableNamesOnlyOptionsTheCommandsHave() throws Exception {
    java.nio.file.Path readme = java.nio.file.Path.of(System.getProperty("joule.repo.root", ".."), "README.md");
    java.util.Map<String, String> rows = new java.util.LinkedHashMap<>();
    for (String line : java.nio.file.Files.readAllLines(readme)) {
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("^\\| `joule ((?:model )?[a-z-]+)([^`]*)`").matcher(line);
      if (m.find()) {
        rows.put(m.group(1), m.group(2));
      }
    }
    CommandLine root = Main.commandLine();
    List<String> problems = new ArrayList<>();
    for (CommandLine sub : root.getSubcommands().values()) {
      List<CommandLine> commands = sub.getSubcommands().isEmpty() ? List.of(sub) : new ArrayList<>(sub.getSubcommands().values());
      for (CommandLine c : commands) {
        String name = c.getCommandSpec().qualifiedName(" ").replaceFirst("^joule ", "");
        String row = rows.get(name);
        if (row == null) {
          problems.add(name + ": no row in the README's CLI table");
          continue;
        }
        java.util.regex.Matcher o = java.util.regex.Pattern.compile("--[a-z][a-z0-9-]*").matcher(row);
        while (o.find()) {
          if (c.getCommandSpec().findOption(o.group()) == null) {
            problems.add(name + ": the README names " + o.group() + ", which it does not take");
          }
        }
      }
    }
    assertTrue(problems.isEmpty(), String.join("\n", problems));
  }
}
