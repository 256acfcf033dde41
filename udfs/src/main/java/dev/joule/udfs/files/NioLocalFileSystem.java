package dev.joule.udfs.files;

import org.apache.hadoop.fs.LocalFileSystem;

/**
 * The checksummed local file system ({@code fs.file.impl}) over {@link NioRawLocalFileSystem}:
 * Hadoop's {@link LocalFileSystem} without the child processes. The embedded default sets it
 * (JouleSpark) unless the user has set {@code fs.file.impl}.
 */
public class NioLocalFileSystem extends LocalFileSystem {

  public NioLocalFileSystem() {
    super(new NioRawLocalFileSystem());
  }
}
