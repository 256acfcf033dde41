package dev.joule.udfs;

import dev.joule.udfs.sql.EnergyLogFunction;
import dev.joule.udfs.sql.JouleCall;
import dev.joule.udfs.sql.JouleFunctions;
import dev.joule.udfs.sql.SqlFunction;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.ExpressionInfo;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import scala.Function1;
import scala.Tuple3;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * Joule's SQL functions, for {@code spark.sql.extensions=dev.joule.udfs.JouleExtensions} (a
 * comma-separated list, so it combines with Delta's {@code io.delta.sql.DeltaSparkSessionExtension}):
 * {@code joule_quantize}, {@code joule_dequantize}, {@code joule_dot}, {@code joule_cosine},
 * {@code joule_hamming}, {@code joule_score} and the table function {@code joule_energy}.
 */
public final class JouleExtensions extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {

  @Override
  public BoxedUnit apply(SparkSessionExtensions extensions) {
    for (JouleFunctions f : JouleFunctions.values()) {
      extensions.injectFunction(new Tuple3<>(new FunctionIdentifier(f.sqlName()), info(f.sqlName(), f.usage()),
          builder(f)));
    }
    extensions.injectTableFunction(new Tuple3<>(new FunctionIdentifier(EnergyLogFunction.NAME),
        info(EnergyLogFunction.NAME, EnergyLogFunction.USAGE), new TableBuilder()));
    return BoxedUnit.UNIT;
  }

  private static ExpressionInfo info(String name, String usage) {
    return new ExpressionInfo(JouleExtensions.class.getName(), null, name, usage, "");
  }

  private static Function1<Seq<Expression>, Expression> builder(SqlFunction f) {
    return new Builder(f);
  }

  private static final class Builder extends AbstractFunction1<Seq<Expression>, Expression> {
    private final SqlFunction function;

    Builder(SqlFunction function) {
      this.function = function;
    }

    @Override
    public Expression apply(Seq<Expression> args) {
      return new JouleCall(function, args);
    }
  }

  private static final class TableBuilder extends AbstractFunction1<Seq<Expression>, LogicalPlan> {
    @Override
    public LogicalPlan apply(Seq<Expression> args) {
      return EnergyLogFunction.plan(CollectionConverters.asJava(args));
    }
  }
}
