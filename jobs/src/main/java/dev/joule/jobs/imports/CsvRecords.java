package dev.joule.jobs.imports;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;

/**
 * The records of one CSV file, as RFC 4180 reads them (Apache Commons CSV: quoted fields,
 * line breaks and doubled quotes inside them), each with the line it starts on (the header is
 * line 1). Blank lines are no record.
 *
 * <p>A malformed record (a character after a closing quote, a quote left open at the end of the
 * file) is one record with an error, and reading goes on after it: the text is cut into pieces
 * at line breaks outside quotes (an even number of {@code "} so far, which RFC 4180 quoting
 * keeps), and Commons CSV parses each piece on its own, so an error costs that piece only.
 */
public final class CsvRecords implements Iterator<CsvRecords.Record>, AutoCloseable {

  /**
   * One record: its fields, or why it could not be read.
   *
   * @param line the line it starts on, from 1
   */
  public record Record(long line, String[] fields, String error) {}

  static final CSVFormat FORMAT = CSVFormat.RFC4180.builder().setIgnoreEmptyLines(true).get();
  /** A piece longer than this (in chars) is given up as an unclosed quote, not held in memory. */
  static final int MAX_PIECE_CHARS = 16 << 20;

  private final TextLines in;
  private final int maxPieceChars;
  private final ArrayDeque<Record> ready = new ArrayDeque<>();
  private long nextLine = 1;
  private boolean eof;

  public CsvRecords(Reader in) {
    this(in, MAX_PIECE_CHARS);
  }

  CsvRecords(Reader in, int maxPieceChars) {
    this.in = new TextLines(in, true);
    this.maxPieceChars = maxPieceChars;
  }

  @Override
  public boolean hasNext() {
    while (ready.isEmpty() && !eof) {
      readPiece();
    }
    return !ready.isEmpty();
  }

  @Override
  public Record next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    return ready.poll();
  }

  @Override
  public void close() throws IOException {
    in.close();
  }

  /** Reads lines until the quotes balance (or the file ends), then parses them. */
  private void readPiece() {
    StringBuilder piece = new StringBuilder();
    long start = nextLine;
    int quotes = 0;
    boolean tooLong = false;
    try {
      do {
        int before = piece.length();
        if (!in.next(piece)) {
          eof = true;
          break;
        }
        nextLine++;
        if (start == 1 && before == 0 && piece.length() > 0 && piece.charAt(0) == '\uFEFF') {
          piece.deleteCharAt(0); // a byte order mark
        }
        for (int i = before; i < piece.length(); i++) {
          if (piece.charAt(i) == '"') {
            quotes++;
          }
        }
        if (piece.length() > maxPieceChars) {
          tooLong = true;
          break;
        }
      } while ((quotes & 1) == 1);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    if (tooLong) {
      ready.add(new Record(start, null, "a quoted field from this line runs on past "
          + (maxPieceChars >> 20) + "M characters (a quote left open?); reading goes on at line " + nextLine));
      return;
    }
    if (piece.length() > 0) {
      parse(piece.toString(), start);
    }
  }

  private void parse(String text, long start) {
    try (CSVParser p = CSVParser.parse(text, FORMAT)) {
      Iterator<CSVRecord> it = p.iterator();
      while (true) {
        long at = start + p.getCurrentLineNumber();
        CSVRecord r;
        try {
          if (!it.hasNext()) {
            break;
          }
          r = it.next();
        } catch (UncheckedIOException | IllegalStateException e) {
          ready.add(new Record(at, null, describe(e)));
          break;
        }
        ready.add(new Record(at, r.values(), null));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Commons CSV's message without its position inside the piece (the record's line is given instead). */
  static String describe(Throwable e) {
    Throwable t = e instanceof UncheckedIOException && e.getCause() != null ? e.getCause() : e;
    String m = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
    m = m.replaceAll("^\\(startline \\d+\\)\\s*", "").replaceAll("\\s*at line: .*$", "")
        .replaceAll("^IOException reading next record: (java\\.io\\.)?\\w*Exception: ", "");
    if (m.startsWith("EOF reached before encapsulated token finished")) {
      return "a quoted field is not closed before the end of the file";
    }
    if (m.startsWith("Invalid character between encapsulated token and delimiter")) {
      return "a character follows a closing quote (RFC 4180 allows only a comma or a line break there)";
    }
    return m;
  }
}
