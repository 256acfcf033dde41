package dev.joule.jobs.score;

import dev.joule.udfs.input.ScanFilter;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.Alias;
import org.apache.spark.sql.catalyst.expressions.And;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.IsNotNull;
import org.apache.spark.sql.catalyst.expressions.NamedExpression;
import org.apache.spark.sql.execution.ColumnarToRowExec;
import org.apache.spark.sql.execution.ExecSubqueryExpression;
import org.apache.spark.sql.execution.FilterExec;
import org.apache.spark.sql.execution.InputAdapter;
import org.apache.spark.sql.execution.ProjectExec;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.execution.UnionExec;
import org.apache.spark.sql.execution.WholeStageCodegenExec;
import org.apache.spark.sql.vectorized.ColumnarBatch;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The columnar batches behind a selection of table columns, when its physical plan is made of
 * columnar scans (Spark's vectorized Parquet reader) under column renames, filters and unions:
 * then a scoring pass reads the scans' batches itself instead of the rows Spark would make of
 * them, and applies the plan's filters to each batch row ({@link ScanFilter}). A change feed, say,
 * is a union of scans (change files, added files, removed files) under the night's filter of the
 * rows it keeps. A branch of a union that is not a columnar scan (Delta's empty seed of a feed)
 * is read as the rows Spark makes of it, beside the others.
 *
 * @param parts one per scan (or row branch): together, every row of the selection once
 */
public record ColumnarScan(List<Part> parts) {

  /**
   * One scan's batches, with for each column of the selection, in order, its ordinal in the
   * batches, and the plan's filter of the scan's rows (or null); or, for a branch that is not a
   * columnar scan, Spark's rows of it ({@code batches} null).
   */
  public record Part(JavaRDD<ColumnarBatch> batches, int[] columns, ScanFilter filter, JavaRDD<InternalRow> rows) {

    int partitions() {
      return batches != null ? batches.getNumPartitions() : rows.getNumPartitions();
    }
  }

  /** Why a selection is read as rows, or the columnar scans that give its columns. */
  public record Found(ColumnarScan scan, String whyRows) {}

  /** Partitions over all parts: the scoring job's tasks. */
  public int partitions() {
    return parts.stream().mapToInt(Part::partitions).sum();
  }

  /** How the parts read, for the run's log: the scans, their filters, and any branch read as rows. */
  public String describe() {
    long scans = parts.stream().filter(p -> p.batches() != null).count();
    long filtered = parts.stream().filter(p -> p.filter() != null).count();
    long rows = parts.size() - scans;
    return "the scan's columnar batches" + (scans > 1 ? " (" + scans + " scans)" : "")
        + (filtered > 0 ? ", the plan's filter applied to them" : "")
        + (rows > 0 ? ", and " + rows + " branch" + (rows > 1 ? "es" : "") + " as rows" : "");
  }

  /**
   * The scans under {@code selected}, or why there are none (a computed column, a filter Joule
   * cannot evaluate, a scan that is not columnar: the reason is logged by the caller).
   */
  public static Found of(Dataset<Row> selected) {
    SparkPlan plan = selected.queryExecution().executedPlan();
    List<Part> parts = new ArrayList<>();
    String why = walk(plan, new ArrayList<>(CollectionConverters.asJava(plan.output())), new ArrayList<>(), parts);
    return why != null ? new Found(null, why) : new Found(new ColumnarScan(List.copyOf(parts)), null);
  }

  /**
   * Adds to {@code parts} the scans under {@code plan} that give the attributes {@code wanted} of
   * its output, keeping the rows for which every one of {@code conditions} (over {@code plan}'s
   * output) holds.
   *
   * @return null, or why {@code plan} cannot be read as columnar scans
   */
  private static String walk(SparkPlan plan, List<Attribute> wanted, List<Expression> conditions, List<Part> parts) {
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
            return "the selection computes column '" + a.name() + "'";
          }
          below.add(source);
        }
        for (Expression c : conditions) {
          for (Attribute a : CollectionConverters.asJava(c.references().toSeq())) {
            if (!passedThrough(p, a)) {
              return "a filter on computed column '" + a.name() + "'";
            }
          }
        }
        wanted = below;
        plan = p.child();
      } else if (plan instanceof FilterExec f) {
        if (!f.condition().deterministic() || hasSubquery(f.condition())) {
          return "a filter the scoring pass cannot evaluate (" + f.condition().sql() + ")";
        }
        conditions.add(f.condition());
        plan = f.child();
      } else if (plan instanceof UnionExec u && conditions.isEmpty()) {
        return union(u, wanted, parts);
      } else if (plan instanceof ColumnarToRowExec c) {
        plan = c.child();
        break;
      } else {
        return "the plan reads rows (" + plan.nodeName() + ")";
      }
    }
    if (!plan.supportsColumnar()) {
      return plan.nodeName() + " is not columnar";
    }
    List<Attribute> scanOut = CollectionConverters.asJava(plan.output());
    int[] columns = new int[wanted.size()];
    for (int i = 0; i < columns.length; i++) {
      columns[i] = indexOf(scanOut, wanted.get(i));
      if (columns[i] < 0) {
        return "column '" + wanted.get(i).name() + "' is not in the scan's output";
      }
    }
    // The conjuncts in the order Spark's FilterExec evaluates them: null checks of columns first
    // (FilterExec tests a column's isnotnull before any other predicate reads it), then the lowest
    // filter's before the ones above it. So no predicate sees a row Spark would not show it (a
    // UDF that relies on a lower filter, or on a column not being null, say).
    List<Expression> nullChecks = new ArrayList<>();
    List<Expression> others = new ArrayList<>();
    for (int i = conditions.size() - 1; i >= 0; i--) {
      for (Attribute a : CollectionConverters.asJava(conditions.get(i).references().toSeq())) {
        if (indexOf(scanOut, a) < 0) {
          return "the filter's column '" + a.name() + "' is not in the scan's output";
        }
      }
      conjuncts(conditions.get(i), nullChecks, others);
    }
    Expression condition = null;
    for (Expression c : concat(nullChecks, others)) {
      condition = condition == null ? c : new And(condition, c);
    }
    parts.add(new Part(plan.executeColumnar().toJavaRDD(), columns,
        condition == null ? null : new ScanFilter(condition, plan.output()), null));
    return null;
  }

  /**
   * Each branch of a union as its scans, or, where a branch is not one and gives the selection's
   * columns as they are (Delta's empty seed of a change feed), as Spark's rows of it.
   */
  private static String union(UnionExec u, List<Attribute> wanted, List<Part> parts) {
    List<Attribute> out = CollectionConverters.asJava(u.output());
    for (SparkPlan branch : CollectionConverters.asJava(u.children())) {
      List<Attribute> branchOut = CollectionConverters.asJava(branch.output());
      List<Attribute> branchWanted = new ArrayList<>();
      for (Attribute a : wanted) {
        int i = indexOf(out, a);
        if (i < 0) {
          return "column '" + a.name() + "' is not in the union's output";
        }
        branchWanted.add(branchOut.get(i));
      }
      List<Part> branchParts = new ArrayList<>();
      String why = walk(branch, branchWanted, new ArrayList<>(), branchParts);
      if (why == null) {
        parts.addAll(branchParts);
      } else if (sameAttributes(branchWanted, branchOut)) {
        parts.add(new Part(null, null, null, branch.execute().toJavaRDD()));
      } else {
        return why;
      }
    }
    return null;
  }

  /** The conjuncts of {@code e}, in order: null checks of a column in {@code nullChecks}, the rest in {@code others}. */
  private static void conjuncts(Expression e, List<Expression> nullChecks, List<Expression> others) {
    if (e instanceof And and) {
      conjuncts(and.left(), nullChecks, others);
      conjuncts(and.right(), nullChecks, others);
    } else if (e instanceof IsNotNull n && n.child() instanceof Attribute) {
      nullChecks.add(e);
    } else {
      others.add(e);
    }
  }

  private static List<Expression> concat(List<Expression> a, List<Expression> b) {
    List<Expression> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }

  /** The attribute under {@code out} in a projection that only renames, or null. */
  private static Attribute renamed(ProjectExec p, Attribute out) {
    for (NamedExpression e : CollectionConverters.asJava(p.projectList())) {
      if (!e.exprId().equals(out.exprId())) {
        continue;
      }
      Object x = e instanceof Alias a ? a.child() : e;
      return x instanceof Attribute attr ? attr : null;
    }
    return null;
  }

  /** Whether {@code p} outputs its child's attribute {@code a} as it is (same expression id). */
  private static boolean passedThrough(ProjectExec p, Attribute a) {
    return CollectionConverters.asJava(p.projectList()).stream()
        .anyMatch(e -> e instanceof Attribute attr && attr.exprId().equals(a.exprId()));
  }

  private static boolean hasSubquery(Expression e) {
    if (e instanceof ExecSubqueryExpression) {
      return true;
    }
    for (Expression c : CollectionConverters.asJava(e.children())) {
      if (hasSubquery(c)) {
        return true;
      }
    }
    return false;
  }

  private static int indexOf(List<Attribute> attributes, Attribute a) {
    for (int i = 0; i < attributes.size(); i++) {
      if (attributes.get(i).exprId().equals(a.exprId())) {
        return i;
      }
    }
    return -1;
  }

  private static boolean sameAttributes(List<Attribute> a, List<Attribute> b) {
    if (a.size() != b.size()) {
      return false;
    }
    for (int i = 0; i < a.size(); i++) {
      if (!a.get(i).exprId().equals(b.get(i).exprId())) {
        return false;
      }
    }
    return true;
  }
}
