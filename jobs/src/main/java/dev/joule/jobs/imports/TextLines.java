package dev.joule.jobs.imports;

import java.io.Closeable;
import java.io.IOException;
import java.io.Reader;

/** The physical lines of a text, with their line breaks, from a buffer of its own (no lock per char). */
final class TextLines implements Closeable {

  private final Reader in;
  private final boolean crBreaks;
  private final char[] buf = new char[1 << 16];
  private int pos;
  private int len;

  /**
   * @param crBreaks whether a lone {@code \r} ends a line (CSV: yes; JSON lines: only {@code \n}
   *     and {@code \r\n} do)
   */
  TextLines(Reader in, boolean crBreaks) {
    this.in = in;
    this.crBreaks = crBreaks;
  }

  /** Appends the next line, with its line break if it has one, to {@code out}; false at the end of the text. */
  boolean next(StringBuilder out) throws IOException {
    if (!fill()) {
      return false;
    }
    while (fill()) {
      int start = pos;
      while (pos < len) {
        char c = buf[pos++];
        if (c == '\n') {
          out.append(buf, start, pos - start);
          return true;
        }
        if (c == '\r') {
          out.append(buf, start, pos - start);
          if (fill() && buf[pos] == '\n') {
            out.append('\n');
            pos++;
            return true;
          }
          if (crBreaks) {
            return true;
          }
          start = pos;
        }
      }
      out.append(buf, start, pos - start);
    }
    return true;
  }

  /** Whether a char is buffered, reading more when none is. */
  private boolean fill() throws IOException {
    while (pos >= len) {
      int n = in.read(buf, 0, buf.length);
      if (n < 0) {
        return false;
      }
      pos = 0;
      len = n;
    }
    return true;
  }

  @Override
  public void close() throws IOException {
    in.close();
  }
}
