package dev.joule.udfs.sql;

import java.io.Serializable;
import java.util.List;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.analysis.TypeCheckResult;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenContext;
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenFallback;
import org.apache.spark.sql.catalyst.expressions.codegen.ExprCode;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import scala.collection.immutable.IndexedSeq;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The Catalyst expression behind every Joule SQL function: a {@link SqlFunction} applied to its
 * children. It binds once the children are resolved ({@link #checkInputDataTypes()}, so a wrong
 * argument is an analysis error naming the function and the argument) and keeps the binding, so
 * the work of binding — reading a model file, quantizing its weights — happens on the driver
 * once and travels to executors with the plan. Evaluated row by row (no code generation):
 * the function bodies are kernel calls, which generated code would only wrap.
 */
public final class JouleCall extends Expression implements CodegenFallback, Serializable {

  private static final long serialVersionUID = 1L;

  private final SqlFunction function;
  private final Seq<Expression> children;
  /** A {@link SqlFunction.Bound}, or the {@link SqlFunctionException} binding raised; null until bound. */
  private volatile Object binding;
  private transient Expression[] args;

  public JouleCall(SqlFunction function, Seq<Expression> children) {
    this(function, children, null);
  }

  private JouleCall(SqlFunction function, Seq<Expression> children, Object binding) {
    this.function = function;
    this.children = children;
    this.binding = binding;
  }

  public SqlFunction function() {
    return function;
  }

  @Override
  public Seq<Expression> children() {
    return children;
  }

  @Override
  public Expression withNewChildrenInternal(IndexedSeq<Expression> newChildren) {
    // Keep the binding when only the children's form changed (an attribute bound to an
    // ordinal, an alias removed): same types, same constants. Rebinding would read the model
    // file again for every copy the optimizer makes.
    Object keep = binding instanceof SqlFunction.Bound && sameShape(newChildren) ? binding : null;
    return new JouleCall(function, newChildren, keep);
  }

  private boolean sameShape(Seq<Expression> other) {
    List<Expression> a = CollectionConverters.asJava(children);
    List<Expression> b = CollectionConverters.asJava(other);
    if (a.size() != b.size()) {
      return false;
    }
    for (int i = 0; i < a.size(); i++) {
      Expression x = a.get(i);
      Expression y = b.get(i);
      if (!y.resolved() || !x.dataType().equals(y.dataType())) {
        return false;
      }
      // Constants compare by value: constant folding turns concat('/m/', 'a.json') into a literal.
      if (x.foldable() && !(y.foldable() && java.util.Objects.equals(x.eval(null), y.eval(null)))) {
        return false;
      }
    }
    return true;
  }

  /** Copies made by reflection (Catalyst's makeCopy) keep the binding under the same rule. */
  @Override
  @SuppressWarnings("unchecked")
  public Expression makeCopy(Object[] newArgs) {
    SqlFunction f = (SqlFunction) newArgs[0];
    Seq<Expression> c = (Seq<Expression>) newArgs[1];
    return new JouleCall(f, c, f == function && binding instanceof SqlFunction.Bound && sameShape(c) ? binding : null);
  }

  @Override
  public Expression clone() {
    List<Expression> c = CollectionConverters.asJava(children).stream().map(Expression::clone).toList();
    return new JouleCall(function, CollectionConverters.asScala(c).toSeq(), binding);
  }

  /** Whether this node was bound (for tests: a copy shipped to executors must arrive bound). */
  boolean isBound() {
    return binding instanceof SqlFunction.Bound;
  }

  private Object binding() {
    Object b = binding;
    if (b == null) {
      if (!childrenResolved()) {
        return new SqlFunctionException(function.sqlName(), "arguments are not resolved yet");
      }
      try {
        b = function.bind(new SqlArgs(function.sqlName(), CollectionConverters.asJava(children)));
      } catch (SqlFunctionException e) {
        b = e;
      } catch (RuntimeException e) {
        b = new SqlFunctionException(function.sqlName(), "cannot bind: " + e, e);
      }
      binding = b;
    }
    return b;
  }

  private SqlFunction.Bound bound() {
    if (binding == null && function.bindsOnDriverOnly()) {
      // Binding reads files that may exist only on the driver; a node that arrives unbound is a
      // bug in how it was copied, not something to paper over by reading them here.
      throw new IllegalStateException(function.sqlName() + " was not bound when the query was analysed");
    }
    Object b = binding();
    if (b instanceof SqlFunctionException e) {
      throw e;
    }
    return (SqlFunction.Bound) b;
  }

  @Override
  public TypeCheckResult checkInputDataTypes() {
    Object b = binding();
    if (b instanceof SqlFunctionException e) {
      return new TypeCheckResult.TypeCheckFailure(e.getMessage());
    }
    return TypeCheckResult.TypeCheckSuccess$.MODULE$;
  }

  @Override
  public DataType dataType() {
    // Before a failed check reports itself, the type is unknown rather than an exception.
    Object b = binding();
    return b instanceof SqlFunction.Bound bound ? bound.dataType() : DataTypes.NullType;
  }

  @Override
  public boolean nullable() {
    return true;
  }

  @Override
  public Object eval(InternalRow row) {
    SqlFunction.Bound bound = bound();
    Expression[] a = args;
    if (a == null) {
      a = CollectionConverters.asJava(children).toArray(new Expression[0]);
      args = a;
    }
    Object[] values = new Object[a.length];
    for (int i = 0; i < a.length; i++) {
      values[i] = a[i].eval(row);
      if (values[i] == null) {
        return null;
      }
    }
    return bound.eval(values);
  }

  @Override
  public ExprCode doGenCode(CodegenContext ctx, ExprCode ev) {
    return CodegenFallback.super.doGenCode(ctx, ev);
  }

  @Override
  public String prettyName() {
    return function.sqlName();
  }

  @Override
  public String toString() {
    StringBuilder s = new StringBuilder(function.sqlName()).append('(');
    List<Expression> a = CollectionConverters.asJava(children);
    for (int i = 0; i < a.size(); i++) {
      s.append(i == 0 ? "" : ", ").append(a.get(i));
    }
    return s.append(')').toString();
  }

  // Product, which Catalyst uses to copy and print tree nodes.
  @Override
  public int productArity() {
    return 2;
  }

  @Override
  public Object productElement(int n) {
    switch (n) {
      case 0:
        return function;
      case 1:
        return children;
      default:
        throw new IndexOutOfBoundsException(String.valueOf(n));
    }
  }

  @Override
  public boolean canEqual(Object that) {
    return that instanceof JouleCall;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof JouleCall other && other.function.sqlName().equals(function.sqlName())
        && other.children.equals(children);
  }

  @Override
  public int hashCode() {
    return 31 * function.sqlName().hashCode() + children.hashCode();
  }
}
