package dev.joule.udfs.files;

import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.attribute.PosixFilePermissions;
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
 * files) by starting {@code readlink}. A 1 % night started 78 processes, about 6 ms of wall and
 * 1-2 ms of the JVM's CPU each, plus their own. Here both go through {@code java.nio}, with the same
 * results; what NIO cannot express (a sticky bit, a file system without POSIX permissions, a
 * symbolic link) goes to Hadoop's code as before.
 */
public class NioRawLocalFileSystem extends RawLocalFileSystem {

  @Override
  public void setPermission(Path p, FsPermission permission) throws IOException {
    if (NativeIO.isAvailable() || permission.getStickyBit()) {
      super.setPermission(p, permission);
      return;
    }
    // FsPermission prints "rwxr-x---" without a sticky bit: the form NIO parses.
    java.nio.file.Path file = pathToFile(p).toPath();
    try {
      Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(permission.toString()));
    } catch (NoSuchFileException e) {
      throw new FileNotFoundException("File " + p + " does not exist");
    } catch (UnsupportedOperationException e) { // not a POSIX file system
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
