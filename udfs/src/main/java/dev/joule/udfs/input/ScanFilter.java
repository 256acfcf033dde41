package dev.joule.udfs.input;

import java.io.Serializable;
import java.util.function.Predicate;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.BasePredicate;
import org.apache.spark.sql.catalyst.expressions.Expression;
import scala.collection.immutable.Seq;

/**
 * A filter of the plan above a columnar scan (a change feed's kept rows, a deletion vector's
 * live rows), evaluated by the scoring pass on each row of the scan's batches instead of by
 * Spark on rows it would make of them. The condition is Spark's own expression (the conjunction
 * of the filters, null checks first, then the lowest filter's conjuncts first: the order
 * {@code FilterExec} tests them in), bound to the scan's output and compiled by Spark's
 * {@code Predicate}: a row passes where it would have passed there. Expressions of a projection
 * between the filters and the scan that no filter reads are not evaluated.
 *
 * @param condition deterministic, without subqueries (the planner's side checks)
 * @param input the scan's output, in the order of its batches' columns
 */
public record ScanFilter(Expression condition, Seq<Attribute> input) implements Serializable {

  /** The filter for one task: compiled once a partition, as Spark's own filter is. */
  public Predicate<InternalRow> open(int partitionIndex) {
    BasePredicate p = org.apache.spark.sql.catalyst.expressions.Predicate$.MODULE$.create(condition, input);
    p.initialize(partitionIndex);
    return p::eval;
  }
}
