package dev.joule.udfs.files;

import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.io.nativeio.NativeIO;

/**
 * Hadoop's local file system, less its child processes. Without Hadoop's native library (Maven
 * Central has none, so Joule never has it), {@link RawLocalFileSystem} sets every new file's
 * permissions by starting {@code chmod}, and answers every {@link #getFileLinkStatus} (asked
 * twice by each rename, so twice by each Delta commit file, its checksum and their temporary
 * files) by starting {@code readlink}. A 1 % night started 78 processes; each commit file cost
 * about 95 ms of CPU, the JVM's and the children's (bench/README.md). Here both go through
 * {@code java.nio}, with the same results; what NIO cannot express here (a file system without
 * the "unix" attribute view, a symbolic link's status) goes to Hadoop's code as before.
 */
public class NioRawLocalFileSystem extends RawLocalFileSystem {

  @Override
  public void setPermission(Path p, FsPermission permission) throws IOException {
    if (NativeIO.isAvailable()) {
      super.setPermission(p, permission);
      return;
    }
    java.nio.file.Path file = pathToFile(p).toPath();
    try {
      // Hadoop runs chmod with four octal digits (sticky bit included), and chmod keeps a folder's
      // set-user-ID and set-group-ID bits (a shared folder's setgid is inherited by new folders).
      int mode = permission.toShort() & 01777;
      if (Files.isDirectory(file)) {
        mode |= (Integer) Files.getAttribute(file, "unix:mode") & 06000;
      }
      Files.setAttribute(file, "unix:mode", mode);
    } catch (NoSuchFileException e) {
      throw new FileNotFoundException("File " + p + " does not exist");
    } catch (UnsupportedOperationException | IllegalArgumentException e) { // no "unix" attribute view here
      super.setPermission(p, permission);
    }
  }

  /**
   * For a path that is not a symbolic link Hadoop returns {@link #getFileStatus} after asking
   * {@code readlink}; so does this, after asking NIO. Links, rare here, keep Hadoop's answer.
   */
  @Override
  public FileStatus getFileLinkStatus(Path f) throws IOException {
    File file = pathToFile(f);
    if (Files.isSymbolicLink(file.toPath())) {
      return super.getFileLinkStatus(f);
    }
    return getFileStatus(f);
  }
}
