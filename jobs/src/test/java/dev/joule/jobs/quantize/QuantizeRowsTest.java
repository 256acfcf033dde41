package dev.joule.jobs.quantize;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.kernel.Precision;
import dev.joule.udfs.EmbeddingColumn;
import dev.joule.udfs.IdColumn;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.util.GenericArrayData;
import org.junit.jupiter.api.Test;

/** quantize's per-row function on rows near the float limit: a codes row never holds an Infinity. */
class QuantizeRowsTest {

  static List<Row> encode(Precision p, float[]... rows) throws Exception {
    List<InternalRow> in = new ArrayList<>();
    for (int i = 0; i < rows.length; i++) {
      Object[] v = new Object[rows[i].length];
      for (int j = 0; j < v.length; j++) {
        v[j] = rows[i][j];
      }
      in.add(new GenericInternalRow(new Object[] {(long) i, new GenericArrayData(v)}));
    }
    Iterator<Row> out = new QuantizeJob.Encode(p, rows[0].length, EmbeddingColumn.Layout.ARRAY_FLOAT, IdColumn.LONG,
        dev.joule.udfs.GateSample.NONE, null)
        .call(in.iterator());
    List<Row> list = new ArrayList<>();
    out.forEachRemaining(list::add);
    return list;
  }

  @Test
  void rowsNearTheFloatLimitAreQuantizedOrRejectedNeverInfinite() throws Exception {
    for (Precision p : new Precision[] {Precision.INT8, Precision.INT4, Precision.BINARY}) {
      List<Row> out = encode(p,
          new float[] {1e38f, 1e38f, 1e38f}, // norm 1.7e38: fits
          new float[] {3e38f, -3e38f, 0f}, // norm 4.2e38: beyond the float range
          new float[] {Float.MAX_VALUE, 0f, 0f},
          new float[] {0.5f, -1f, 2f});
      for (Row r : out) {
        String reason = r.getString(5);
        if (reason == null) {
          assertTrue(Float.isFinite(r.getFloat(2)) && Float.isFinite(r.getFloat(3)), p + " " + r);
        }
      }
      assertNull(out.get(0).getString(5), p + " " + out.get(0));
      assertEquals(1.7320508e38f, out.get(0).getFloat(3), 1e32f);
      assertEquals("non_finite: norm overflows float (4.243e+38 > 3.403e+38)", out.get(1).getString(5), p.toString());
      assertNull(out.get(1).get(3));
      assertNull(out.get(2).getString(5));
      assertEquals(Float.MAX_VALUE, out.get(2).getFloat(3));
      assertNull(out.get(3).getString(5));
    }
  }
}
