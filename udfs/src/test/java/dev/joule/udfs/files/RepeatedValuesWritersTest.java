package dev.joule.udfs.files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.column.ColumnWriteStore;
import org.apache.parquet.column.ColumnWriter;
import org.apache.parquet.column.ParquetProperties;
import org.apache.parquet.column.values.factory.DefaultValuesWriterFactory;
import org.apache.parquet.column.values.factory.ValuesWriterFactory;
import org.apache.parquet.hadoop.CodecFactory;
import org.apache.parquet.hadoop.ColumnChunkPageWriteStore;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopOutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Values found by reference give the same file as parquet-mr's own writers, byte for byte: the
 * same objects again and again, equal values in other objects, values whose bytes are reused,
 * nulls, more distinct values than are remembered, dictionaries that fall back to plain, writer
 * versions 1 and 2, several row groups.
 */
class RepeatedValuesWritersTest {

  private static final MessageType SCHEMA = MessageTypeParser.parseMessageType(
      "message m { optional binary s (STRING); optional int96 t; required int64 n; }");

  @TempDir
  Path tmp;

  @Test
  void theFileIsParquetsOwn() throws Exception {
    Random random = new Random(5);
    for (int trial = 0; trial < 40; trial++) {
      long seed = random.nextLong();
      boolean v2 = random.nextBoolean();
      int dictionaryBytes = random.nextBoolean() ? 1 << 20 : 256 + random.nextInt(600);
      int distinct = 1 + random.nextInt(40);
      int rows = 1 + random.nextInt(3000);
      int groupRows = 1 + random.nextInt(rows);
      byte[] parquets = write(tmp.resolve(trial + "-default.parquet"), new DefaultValuesWriterFactory(), seed, v2,
          dictionaryBytes, distinct, rows, groupRows);
      byte[] ours = write(tmp.resolve(trial + "-repeated.parquet"), new RepeatedValuesWriters(Set.of("s", "t")), seed,
          v2, dictionaryBytes, distinct, rows, groupRows);
      assertArrayEquals(parquets, ours, "trial " + trial + ": v2 " + v2 + ", dictionary " + dictionaryBytes
          + " bytes, " + distinct + " distinct values, " + rows + " rows in groups of " + groupRows);
    }
  }

  private static byte[] write(Path file, ValuesWriterFactory factory, long seed, boolean v2, int dictionaryBytes,
      int distinct, int rows, int groupRows) throws Exception {
    Random random = new Random(seed);
    Binary[] strings = new Binary[distinct];
    Binary[] stamps = new Binary[distinct];
    for (int i = 0; i < distinct; i++) {
      strings[i] = Binary.fromConstantByteArray(("value-" + i + "-" + "x".repeat(random.nextInt(30)))
          .getBytes(StandardCharsets.UTF_8));
      byte[] t = new byte[12];
      random.nextBytes(t);
      stamps[i] = Binary.fromConstantByteArray(t);
    }
    Binary reused = Binary.fromReusedByteArray(new byte[12]);
    ParquetProperties props = ParquetProperties.builder().withValuesWriterFactory(factory)
        .withWriterVersion(v2 ? ParquetProperties.WriterVersion.PARQUET_2_0 : ParquetProperties.WriterVersion.PARQUET_1_0)
        .withDictionaryPageSize(dictionaryBytes).withPageRowCountLimit(500).build();
    Configuration conf = new Configuration(false);
    CodecFactory codecs = new CodecFactory(conf, props.getPageSizeThreshold());
    ParquetFileWriter f = new ParquetFileWriter(HadoopOutputFile.fromPath(new org.apache.hadoop.fs.Path(
        file.toString()), conf), SCHEMA, ParquetFileWriter.Mode.CREATE, 1 << 27, 0, 64, 64, false);
    f.start();
    int written = 0;
    while (written < rows) {
      ColumnChunkPageWriteStore pages = new ColumnChunkPageWriteStore(codecs.getCompressor(
          CompressionCodecName.UNCOMPRESSED), SCHEMA, props.getAllocator(), 64, false);
      ColumnWriteStore store = props.newColumnWriteStore(SCHEMA, pages, pages);
      ColumnWriter s = store.getColumnWriter(SCHEMA.getColumns().get(0));
      ColumnWriter t = store.getColumnWriter(SCHEMA.getColumns().get(1));
      ColumnWriter n = store.getColumnWriter(SCHEMA.getColumns().get(2));
      int group = Math.min(groupRows, rows - written);
      for (int r = 0; r < group; r++) {
        int i = random.nextInt(distinct);
        switch (random.nextInt(8)) {
          case 0 -> s.writeNull(0, 0);
          case 1 -> s.write(Binary.fromConstantByteArray(strings[i].getBytes().clone()), 0, 1); // equal, not the same
          case 2 -> s.write(Binary.fromString("fresh-" + random.nextInt(1000)), 0, 1);
          default -> s.write(strings[i], 0, 1);
        }
        switch (random.nextInt(6)) {
          case 0 -> t.writeNull(0, 0);
          case 1 -> {
            System.arraycopy(stamps[random.nextInt(distinct)].getBytes(), 0, reused.getBytesUnsafe(), 0, 12);
            t.write(reused, 0, 1); // the same object, other bytes each time
          }
          default -> t.write(stamps[i], 0, 1);
        }
        n.write((long) written + r, 0, 0);
        store.endRecord();
      }
      f.startBlock(group);
      store.flush();
      pages.flushToFileWriter(f);
      f.endBlock();
      store.close();
      pages.close();
      written += group;
    }
    f.end(java.util.Map.of());
    codecs.release();
    return Files.readAllBytes(file);
  }
}
