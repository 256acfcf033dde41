package dev.joule.udfs.files;

import java.util.Set;
import org.apache.parquet.column.ColumnDescriptor;
import org.apache.parquet.column.Encoding;
import org.apache.parquet.column.ParquetProperties;
import org.apache.parquet.column.values.ValuesWriter;
import org.apache.parquet.column.values.deltastrings.DeltaByteArrayWriter;
import org.apache.parquet.column.values.dictionary.DictionaryValuesWriter.PlainBinaryDictionaryValuesWriter;
import org.apache.parquet.column.values.dictionary.DictionaryValuesWriter.PlainFixedLenArrayDictionaryValuesWriter;
import org.apache.parquet.column.values.factory.DefaultV1ValuesWriterFactory;
import org.apache.parquet.column.values.factory.DefaultV2ValuesWriterFactory;
import org.apache.parquet.column.values.factory.ValuesWriterFactory;
import org.apache.parquet.column.values.fallback.FallbackValuesWriter;
import org.apache.parquet.column.values.plain.FixedLenByteArrayPlainValuesWriter;
import org.apache.parquet.column.values.plain.PlainValuesWriter;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;

/**
 * Parquet's default values writers, except that the dictionary of a column whose values are a
 * few {@link Binary} objects written over and over (a run's model id, kernel, run id, labels,
 * {@code scored_at}) finds a value it has seen by reference. Parquet's dictionary hashes every
 * value's bytes and compares them on each write: by JFR, about a tenth of a predictions file's
 * writing went to those lookups. The writers are parquet-mr's own classes, built as its default
 * factories build them (writer version 1 and 2), so the pages and dictionaries are the same; a
 * value not seen by reference goes through the dictionary as before.
 */
final class RepeatedValuesWriters implements ValuesWriterFactory {

  private final Set<String> repeatedColumns;
  /**
   * Parquet's factory for the other columns: an instance of this writer's own, since
   * {@code DefaultValuesWriterFactory} hands every writer in the JVM the same static instance,
   * whose settings the last writer to start has set.
   */
  private ValuesWriterFactory defaults;
  private ParquetProperties props;

  /** @param repeatedColumns top-level fields whose values are a few objects written over and over */
  RepeatedValuesWriters(Set<String> repeatedColumns) {
    this.repeatedColumns = Set.copyOf(repeatedColumns);
  }

  @Override
  public void initialize(ParquetProperties properties) {
    props = properties;
    defaults = properties.getWriterVersion() == ParquetProperties.WriterVersion.PARQUET_1_0
        ? new DefaultV1ValuesWriterFactory() : new DefaultV2ValuesWriterFactory();
    defaults.initialize(properties);
  }

  @Override
  public ValuesWriter newValuesWriter(ColumnDescriptor column) {
    PrimitiveTypeName type = column.getPrimitiveType().getPrimitiveTypeName();
    if (!repeatedColumns.contains(column.getPath()[0]) || !props.isDictionaryEnabled(column)
        || (type != PrimitiveTypeName.BINARY && type != PrimitiveTypeName.INT96)) {
      return defaults.newValuesWriter(column);
    }
    boolean v1 = props.getWriterVersion() == ParquetProperties.WriterVersion.PARQUET_1_0;
    // DefaultV1ValuesWriterFactory / DefaultV2ValuesWriterFactory: their encodings and fallbacks
    Encoding dataPages = v1 ? Encoding.PLAIN_DICTIONARY : Encoding.RLE_DICTIONARY;
    Encoding dictionaryPage = v1 ? Encoding.PLAIN_DICTIONARY : Encoding.PLAIN;
    int slab = props.getInitialSlabSize();
    int page = props.getPageSizeThreshold();
    int maxDictionary = props.getDictionaryPageSizeThreshold();
    if (type == PrimitiveTypeName.INT96) {
      return FallbackValuesWriter.of(
          new FixedLength(maxDictionary, 12, dataPages, dictionaryPage, props),
          new FixedLenByteArrayPlainValuesWriter(12, slab, page, props.getAllocator()));
    }
    ValuesWriter fallback = v1 ? new PlainValuesWriter(slab, page, props.getAllocator())
        : new DeltaByteArrayWriter(slab, page, props.getAllocator());
    return FallbackValuesWriter.of(new Variable(maxDictionary, dataPages, dictionaryPage, props), fallback);
  }

  /** How many distinct value objects a column's writer remembers (the first ones it meets). */
  static final int REMEMBERED = 16;

  /** The dictionary ids of the first few distinct value objects, by reference. */
  private static final class SeenByReference {
    private static final int SIZE = REMEMBERED;
    private final Binary[] values = new Binary[SIZE];
    private final int[] ids = new int[SIZE];
    private int size;

    /** Adds {@code v}'s dictionary id to the page's values if {@code v} is a value seen before. */
    boolean wrote(Binary v, org.apache.parquet.column.values.dictionary.IntList encoded) {
      for (int i = 0; i < size; i++) {
        if (values[i] == v) {
          encoded.add(ids[i]);
          return true;
        }
      }
      return false;
    }

    /** Remembers the id the dictionary gave {@code v}, unless its bytes may change later. */
    void remember(Binary v, java.util.function.ToIntFunction<Binary> dictionary) {
      if (size < SIZE && !v.isBackingBytesReused()) {
        values[size] = v;
        ids[size++] = dictionary.applyAsInt(v);
      }
    }

    void clear() {
      java.util.Arrays.fill(values, null);
      size = 0;
    }
  }

  /** A BINARY column's dictionary (parquet-mr's), with values found by reference first. */
  private static final class Variable extends PlainBinaryDictionaryValuesWriter {
    private final SeenByReference seen = new SeenByReference();

    Variable(int maxDictionaryBytes, Encoding dataPages, Encoding dictionaryPage, ParquetProperties props) {
      super(maxDictionaryBytes, dataPages, dictionaryPage, props.getAllocator());
    }

    @Override
    public void writeBytes(Binary v) {
      if (!seen.wrote(v, encodedValues)) {
        super.writeBytes(v);
        seen.remember(v, binaryDictionaryContent::getInt);
      }
    }

    @Override
    protected void clearDictionaryContent() {
      super.clearDictionaryContent();
      seen.clear();
    }
  }

  /** An INT96 (or fixed-length) column's dictionary (parquet-mr's), with values found by reference first. */
  private static final class FixedLength extends PlainFixedLenArrayDictionaryValuesWriter {
    private final SeenByReference seen = new SeenByReference();

    FixedLength(int maxDictionaryBytes, int length, Encoding dataPages, Encoding dictionaryPage,
        ParquetProperties props) {
      super(maxDictionaryBytes, length, dataPages, dictionaryPage, props.getAllocator());
    }

    @Override
    public void writeBytes(Binary v) {
      if (!seen.wrote(v, encodedValues)) {
        super.writeBytes(v);
        seen.remember(v, binaryDictionaryContent::getInt);
      }
    }

    @Override
    protected void clearDictionaryContent() {
      super.clearDictionaryContent();
      seen.clear();
    }
  }
}
