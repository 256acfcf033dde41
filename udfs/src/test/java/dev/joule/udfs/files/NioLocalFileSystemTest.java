package dev.joule.udfs.files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.testing.ProcessStarts;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.CreateFlag;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.FileContext;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Options;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The NIO local file system against Hadoop's own: the same permissions and the same link status
 * for files, folders, missing paths and symbolic links, and renames through {@code FileContext}
 * (Delta's commit path) that refuse an existing target as Hadoop's do; all without starting a
 * process, counted by JFR's {@code jdk.ProcessStart} events, where Hadoop's own starts some.
 */
class NioLocalFileSystemTest {

  @TempDir
  java.nio.file.Path tmp;
  /** Hadoop's own, the reference. */
  final RawLocalFileSystem hadoop = new RawLocalFileSystem();
  final NioRawLocalFileSystem nio = new NioRawLocalFileSystem();

  @BeforeEach
  void initialize() throws IOException {
    hadoop.initialize(java.net.URI.create("file:///"), new Configuration(false));
    nio.initialize(java.net.URI.create("file:///"), new Configuration(false));
  }

  @Test
  void permissionsAreHadoopsWithoutAChildProcess() throws Exception {
    short[] modes = {0644, 0600, 0755, 0700, 0444, 0640, 0750, 0000, 0777, 0111, 01777, 01755};
    List<String> processes = processesStartedBy(() -> {
      for (short mode : modes) {
        nio.setPermission(file("nio-" + Integer.toOctalString(mode)), new FsPermission(mode));
        nio.setPermission(setgidFolder("nio-dir-" + Integer.toOctalString(mode)), new FsPermission(mode));
      }
    });
    assertEquals(List.of(), processes);
    List<String> hadoops = processesStartedBy(() -> {
      for (short mode : modes) {
        hadoop.setPermission(file("hadoop-" + Integer.toOctalString(mode)), new FsPermission(mode));
        hadoop.setPermission(setgidFolder("hadoop-dir-" + Integer.toOctalString(mode)), new FsPermission(mode));
      }
    });
    assertTrue(hadoops.stream().anyMatch(c -> c.startsWith("chmod")), "the control: Hadoop starts chmod " + hadoops);
    for (short mode : modes) { // every bit, sticky, setuid and setgid included (a folder keeps its setgid, as with chmod)
      for (String kind : List.of("-", "-dir-")) {
        String m = Integer.toOctalString(mode);
        assertEquals(Integer.toOctalString(unixMode("hadoop" + kind + m)), Integer.toOctalString(unixMode("nio" + kind + m)),
            kind + m);
      }
    }
    assertEquals(02000, unixMode("nio-dir-755") & 02000, "the control: a folder's setgid kept");
    assertThrows(FileNotFoundException.class, () -> nio.setPermission(new Path(tmp.resolve("absent").toUri()),
        new FsPermission((short) 0644)));
  }

  private Path setgidFolder(String name) throws IOException {
    java.nio.file.Path d = Files.createDirectory(tmp.resolve(name));
    Files.setAttribute(d, "unix:mode", 02775);
    return new Path(d.toUri());
  }

  private int unixMode(String name) throws IOException {
    return (Integer) Files.getAttribute(tmp.resolve(name), "unix:mode");
  }

  @Test
  void linkStatusIsHadoopsForFilesFoldersMissingPathsAndLinks() throws Exception {
    Path f = file("data.json");
    Files.createDirectory(tmp.resolve("folder"));
    Files.createSymbolicLink(tmp.resolve("link"), tmp.resolve("data.json"));
    Files.createSymbolicLink(tmp.resolve("dangling"), tmp.resolve("gone"));
    List<Path> paths = List.of(f, new Path(tmp.resolve("folder").toUri()), new Path(tmp.resolve("link").toUri()),
        new Path(tmp.resolve("dangling").toUri()), new Path(tmp.resolve("data.json").toString()),
        new Path(tmp.resolve("link").toString()), new Path(tmp.resolve("dangling").toString()));
    List<FileStatus> statuses = new ArrayList<>();
    List<Path> plain = List.of(paths.get(0), paths.get(1), paths.get(4));
    List<String> processes = processesStartedBy(() -> {
      for (Path p : plain) {
        statuses.add(nio.getFileLinkStatus(p)); // (a status's permission is read lazily, by ls)
      }
      assertThrows(FileNotFoundException.class, () -> nio.getFileLinkStatus(new Path(tmp.resolve("no").toUri())));
    });
    assertEquals(List.of(), processes, "no process for files, folders and missing paths");
    for (int i = 0; i < plain.size(); i++) {
      assertSameStatus(hadoop.getFileLinkStatus(plain.get(i)), statuses.get(i), plain.get(i));
    }
    assertThrows(FileNotFoundException.class, () -> hadoop.getFileLinkStatus(new Path(tmp.resolve("no").toUri())));
    for (Path p : paths) { // Hadoop reads "file:" paths' links as their targets: a dangling one is missing
      FileStatus want;
      try {
        want = hadoop.getFileLinkStatus(p);
      } catch (FileNotFoundException e) {
        assertThrows(FileNotFoundException.class, () -> nio.getFileLinkStatus(p), "missing for both: " + p);
        continue;
      }
      assertSameStatus(want, nio.getFileLinkStatus(p), p);
    }
  }

  @Test
  void fileContextRenamesAsDeltasLogStoreDoesWithoutAChildProcess() throws Exception {
    Configuration conf = new Configuration(false);
    conf.set("fs.AbstractFileSystem.file.impl", NioLocalFs.class.getName());
    conf.set("fs.file.impl", NioLocalFileSystem.class.getName());
    conf.setBoolean("fs.file.impl.disable.cache", true);
    FileContext fc = FileContext.getFileContext(java.net.URI.create("file:///"), conf);
    Path log = new Path(tmp.resolve("_delta_log").toUri());
    Path commit = new Path(log, "00000000000000000000.json");
    List<String> processes = processesStartedBy(() -> {
      fc.mkdir(log, FsPermission.getDirDefault(), true);
      for (int attempt = 0; attempt < 2; attempt++) {
        Path temp = new Path(log, ".00000000000000000000.json." + attempt + ".tmp");
        try (FSDataOutputStream out = fc.create(temp, EnumSet.of(CreateFlag.CREATE),
            Options.CreateOpts.createParent())) {
          out.write(("{\"attempt\":" + attempt + "}\n").getBytes(StandardCharsets.UTF_8));
        }
        if (attempt == 0) {
          fc.rename(temp, commit, Options.Rename.NONE);
        } else { // a second writer of the same version must lose
          assertThrows(FileAlreadyExistsException.class, () -> fc.rename(temp, commit, Options.Rename.NONE));
        }
      }
    });
    assertEquals(List.of(), processes);
    assertArrayEquals("{\"attempt\":0}\n".getBytes(StandardCharsets.UTF_8), fc.util().exists(commit)
        ? fc.open(commit).readAllBytes() : null);
    assertTrue(Files.exists(tmp.resolve("_delta_log/.00000000000000000000.json.crc")), "checksummed as LocalFs is");
    FileSystem fs = FileSystem.get(java.net.URI.create("file:///"), conf);
    assertInstanceOf(NioLocalFileSystem.class, fs);
    assertInstanceOf(NioRawLocalFileSystem.class, ((NioLocalFileSystem) fs).getRaw());
  }

  private Path file(String name) throws IOException {
    java.nio.file.Path p = tmp.resolve(name);
    Files.writeString(p, name);
    return new Path(p.toUri());
  }

  private static void assertSameStatus(FileStatus want, FileStatus got, Path p) throws IOException {
    String at = "status of " + p;
    assertEquals(want.getPath(), got.getPath(), at);
    assertEquals(want.getLen(), got.getLen(), at);
    assertEquals(want.isDirectory(), got.isDirectory(), at);
    assertEquals(want.isSymlink(), got.isSymlink(), at);
    assertEquals(want.getModificationTime(), got.getModificationTime(), at);
    assertEquals(want.getPermission(), got.getPermission(), at);
    if (want.isSymlink()) {
      assertEquals(want.getSymlink(), got.getSymlink(), at);
    }
  }

  private List<String> processesStartedBy(ProcessStarts.Action action) throws Exception {
    return ProcessStarts.during(tmp, action);
  }
}
