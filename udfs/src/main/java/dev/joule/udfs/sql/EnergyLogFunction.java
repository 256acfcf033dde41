package dev.joule.udfs.sql;

import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.UnresolvedAttribute$;
import org.apache.spark.sql.catalyst.expressions.EqualTo;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.Literal;
import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.DataTypes;

/**
 * The table function {@code joule_energy([run_id[, output]])}: the energy_log Delta table a job
 * wrote under its output folder, all of it or one run's rows. The folder is the second argument
 * or the session's {@code spark.joule.output}; the plan is an ordinary Delta read of
 * {@code OUTPUT/energy_log}, so filters and projections push down as usual.
 */
public final class EnergyLogFunction {

  public static final String NAME = "joule_energy";
  public static final String OUTPUT_CONF = "spark.joule.output";
  public static final String USAGE = "_FUNC_([run_id[, output]]) - The energy_log rows (one per "
      + "partition) of a Joule job's output folder: every run, or run_id's. The folder is output, "
      + "or the session's " + OUTPUT_CONF + ".";

  private EnergyLogFunction() {}

  public static LogicalPlan plan(List<Expression> args) {
    SqlArgs a = new SqlArgs(NAME, args);
    a.requireCount(0, 2, "joule_energy([run_id[, output]])");
    String runId = args.isEmpty() ? null : a.constantString(0, "run_id");
    String output = args.size() == 2 ? a.constantString(1, "output")
        : SQLConf.get().getConfString(OUTPUT_CONF, "");
    if (output.isBlank()) {
      throw new SqlFunctionException(NAME, "no output folder: pass it as the second argument or set "
          + OUTPUT_CONF + " to the folder a joule job wrote (the one holding energy_log/)");
    }
    String table = output.replaceAll("/+$", "") + "/energy_log";
    // Read as a DataFrame would: the Delta source resolves the table's current snapshot here.
    LogicalPlan read = ((org.apache.spark.sql.classic.Dataset<?>) SparkSession.active().read()
        .format("delta").load(table)).logicalPlan();
    if (runId == null) {
      return read;
    }
    return new Filter(new EqualTo(UnresolvedAttribute$.MODULE$.apply("run_id"),
        Literal.create(runId, DataTypes.StringType)), read);
  }
}
