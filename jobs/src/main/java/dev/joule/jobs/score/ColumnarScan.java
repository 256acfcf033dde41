package dev.joule.jobs.score;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.Alias;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.NamedExpression;
import org.apache.spark.sql.execution.ColumnarToRowExec;
import org.apache.spark.sql.execution.InputAdapter;
import org.apache.spark.sql.execution.ProjectExec;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.execution.WholeStageCodegenExec;
import org.apache.spark.sql.vectorized.ColumnarBatch;

/**
 * The columnar batches behind a selection of table columns, when its physical plan is a
 * columnar scan (Spark's vectorized Parquet reader) under nothing but column renames: then a
 * scoring pass reads the scan's batches itself instead of the rows Spark would make of them.
 *
 * @param batches the scan's batches, one RDD partition per input split
 * @param columns for each column of the selection, in order, its ordinal in the batches
 */
public record ColumnarScan(JavaRDD<ColumnarBatch> batches, int[] columns) {

  /** Why a selection is read as rows, or the columnar scan that gives its columns. */
  public record Found(ColumnarScan scan, String whyRows) {}

  /**
   * The scan under {@code selected}, or why there is none (a filter, a computed column, a scan
   * that is not columnar: the reason is logged by the caller).
   */
  public static Found of(Dataset<Row> selected) {
    SparkPlan plan = selected.queryExecution().executedPlan();
    // Output attributes of the selection, followed down through renames to the scan's.
    List<Attribute> wanted = new ArrayList<>(scala.jdk.javaapi.CollectionConverters.asJava(plan.output()));
    while (true) {
      if (plan instanceof WholeStageCodegenExec w) {
        plan = w.child();
      } else if (plan instanceof InputAdapter a) {
        plan = a.child();
      } else if (plan instanceof ProjectExec p) {
        List<Attribute> below = new ArrayList<>();
        for (Attribute a : wanted) {
          Attribute source = renamed(p, a);
          if (source == null) {
            return new Found(null, "the selection computes column '" + a.name() + "'");
          }
          below.add(source);
        }
        wanted = below;
        plan = p.child();
      } else if (plan instanceof ColumnarToRowExec c) {
        plan = c.child();
        break;
      } else {
        return new Found(null, "the plan reads rows (" + plan.nodeName() + ")");
      }
    }
    if (!plan.supportsColumnar()) {
      return new Found(null, plan.nodeName() + " is not columnar");
    }
    List<Attribute> scanOut = scala.jdk.javaapi.CollectionConverters.asJava(plan.output());
    int[] columns = new int[wanted.size()];
    for (int i = 0; i < columns.length; i++) {
      columns[i] = -1;
      for (int j = 0; j < scanOut.size(); j++) {
        if (scanOut.get(j).exprId().equals(wanted.get(i).exprId())) {
          columns[i] = j;
        }
      }
      if (columns[i] < 0) {
        return new Found(null, "column '" + wanted.get(i).name() + "' is not in the scan's output");
      }
    }
    return new Found(new ColumnarScan(plan.executeColumnar().toJavaRDD(), columns), null);
  }

  /** The attribute under {@code out} in a projection that only renames, or null. */
  private static Attribute renamed(ProjectExec p, Attribute out) {
    for (NamedExpression e : scala.jdk.javaapi.CollectionConverters.asJava(p.projectList())) {
      if (!e.exprId().equals(out.exprId())) {
        continue;
      }
      Object x = e instanceof Alias a ? a.child() : e;
      return x instanceof Attribute attr ? attr : null;
    }
    return null;
  }
}
