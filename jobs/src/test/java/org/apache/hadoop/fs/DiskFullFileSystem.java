package org.apache.hadoop.fs;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * A local file system, for the scheme {@code diskfull:}, whose disk is full: reading, listing
 * and creating folders work; every byte written fails as Hadoop's local file system fails on a
 * full disk, with an {@link FSError} around {@code IOException: No space left on device}. In
 * Hadoop's package because FSError's constructor is package-private. Register it with
 * {@code fs.diskfull.impl}.
 */
public class DiskFullFileSystem extends RawLocalFileSystem {

  public static final String SCHEME = "diskfull";

  /** What {@code RawLocalFileSystem}'s output stream throws when the disk is full. */
  public static FSError error() {
    return new FSError(new IOException("No space left on device"));
  }

  @Override
  public URI getUri() {
    return URI.create(SCHEME + ":///");
  }

  @Override
  public String getScheme() {
    return SCHEME;
  }

  @Override
  protected OutputStream createOutputStreamWithMode(Path f, boolean append, FsPermission permission) throws IOException {
    OutputStream real = super.createOutputStreamWithMode(f, append, permission);
    return new OutputStream() {
      @Override
      public void write(int b) {
        throw error();
      }

      @Override
      public void write(byte[] b, int off, int len) {
        throw error();
      }

      @Override
      public void close() throws IOException {
        real.close();
      }
    };
  }
}
