package dev.joule.jobs.delta;

import io.delta.kernel.data.FilteredColumnarBatch;
import io.delta.kernel.data.Row;
import io.delta.kernel.engine.Engine;
import io.delta.kernel.internal.ScanImpl;
import io.delta.kernel.utils.CloseableIterator;
import java.io.IOException;
import java.io.UncheckedIOException;

/** Delta Kernel's scan files of a snapshot (its live {@code add} actions), one at a time. */
final class KernelScanFiles {

  private KernelScanFiles() {}

  /** What is done with each scan file; false stops the walk. */
  @FunctionalInterface
  interface Visitor {
    boolean visit(Row scanFile) throws IOException;
  }

  /**
   * Hands {@code visitor} each scan file of {@code scan} until it returns false.
   *
   * @param withStats whether each file's statistics are read too (its row count, say)
   * @param path the table, as an I/O error names it
   * @return false when the visitor stopped the walk
   */
  static boolean forEach(Engine engine, io.delta.kernel.Scan scan, boolean withStats, String path, Visitor visitor) {
    try (CloseableIterator<FilteredColumnarBatch> batches = ((ScanImpl) scan).getScanFiles(engine, withStats)) {
      while (batches.hasNext()) {
        try (CloseableIterator<Row> files = batches.next().getRows()) {
          while (files.hasNext()) {
            if (!visitor.visit(files.next())) {
              return false;
            }
          }
        }
      }
      return true;
    } catch (IOException e) {
      throw new UncheckedIOException(path + ": " + e.getMessage(), e);
    }
  }
}
