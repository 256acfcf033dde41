package dev.joule.bridge.gpu;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.ptr.IntByReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds the CUDA libraries: the driver's {@code libcuda.so.1} where the dynamic linker finds it
 * (the driver installs it there), and NVRTC, which comes with the CUDA toolkit or with a Python
 * wheel and is rarely on the linker's path, in the folders given first, then the toolkit's usual
 * ones.
 *
 * @param folders where to look for NVRTC before the usual places ({@code --cuda-lib-dir})
 */
public record CudaLibraries(List<Path> folders) {

  /** NVRTC's sonames, newest first: CUDA 13, 12. */
  static final List<String> NVRTC_NAMES = List.of("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so");

  static final List<Path> USUAL_FOLDERS = List.of(Path.of("/usr/local/cuda/lib64"),
      Path.of("/usr/local/cuda/targets/x86_64-linux/lib"), Path.of("/usr/lib/x86_64-linux-gnu"));

  public CudaLibraries {
    folders = List.copyOf(folders);
  }

  /**
   * Folders from a path list ({@code dir1:dir2}, as {@code JOULE_CUDA_LIB_DIR} holds them; null or
   * blank: none): a machine may hold NVRTC in the toolkit and in Python's packages, of different
   * CUDA versions, and the one the driver can load is not always the first.
   */
  public static CudaLibraries fromPathList(String pathList) {
    List<Path> folders = new ArrayList<>();
    if (pathList != null) {
      for (String f : pathList.split(java.io.File.pathSeparator)) {
        if (!f.isBlank()) {
          folders.add(Path.of(f.trim()));
        }
      }
    }
    return new CudaLibraries(folders);
  }

  /** The driver API. @throws UnsatisfiedLinkError where no NVIDIA driver is installed */
  public CudaDriver driver() {
    return Native.load("libcuda.so.1", CudaDriver.class);
  }

  /** NVRTC, any version. @throws UnsatisfiedLinkError naming every place looked in */
  public Nvrtc nvrtc() {
    return nvrtc(Integer.MAX_VALUE);
  }

  /**
   * NVRTC of a CUDA version no newer than {@code driverMajor}: a newer one writes PTX the driver
   * cannot load, so an older one beside it is taken instead.
   *
   * @throws UnsatisfiedLinkError naming every place looked in, and every NVRTC passed over
   */
  public Nvrtc nvrtc(int driverMajor) {
    List<String> tried = new ArrayList<>();
    List<Path> where = new ArrayList<>(folders);
    where.addAll(USUAL_FOLDERS);
    for (Path folder : where) {
      for (String name : NVRTC_NAMES) {
        Path lib = folder.resolve(name);
        if (Files.isRegularFile(lib)) {
          try {
            preloadBuiltins(folder);
            Nvrtc n = usable(Native.load(lib.toString(), Nvrtc.class), driverMajor, lib.toString(), tried);
            if (n != null) {
              return n;
            }
          } catch (UnsatisfiedLinkError e) {
            tried.add(lib + " (" + e.getMessage() + ")");
          }
        }
      }
    }
    for (String name : NVRTC_NAMES) {
      try {
        Nvrtc n = usable(load(name, Nvrtc.class), driverMajor, name, tried);
        if (n != null) {
          return n;
        }
      } catch (UnsatisfiedLinkError e) {
        tried.add(name + " on the linker's path");
      }
    }
    throw new UnsatisfiedLinkError("NVRTC (the CUDA toolkit's runtime compiler) not found: tried " + String.join(", ", tried)
        + "; give its folder with --cuda-lib-dir");
  }

  private static Nvrtc usable(Nvrtc n, int driverMajor, String where, List<String> tried) {
    IntByReference major = new IntByReference();
    IntByReference minor = new IntByReference();
    if (n.nvrtcVersion(major, minor) == Nvrtc.NVRTC_SUCCESS && major.getValue() > driverMajor) {
      tried.add(where + " (CUDA " + major.getValue() + "." + minor.getValue() + ", newer than the driver's CUDA "
          + driverMajor + ")");
      return null;
    }
    return n;
  }

  /**
   * NVRTC opens its builtins library ({@code libnvrtc-builtins.so.13.1}) by name when it compiles:
   * outside the linker's path that fails ("failed to open libnvrtc-builtins"). Loaded first from
   * NVRTC's own folder, the name resolves to the library already in the process.
   */
  private static void preloadBuiltins(Path folder) {
    try (java.util.stream.Stream<Path> files = Files.list(folder)) {
      files.filter(f -> f.getFileName().toString().startsWith("libnvrtc-builtins.so"))
          .forEach(f -> com.sun.jna.NativeLibrary.getInstance(f.toString()));
    } catch (java.io.IOException | UnsatisfiedLinkError e) {
      // NVRTC will say what it misses when it compiles.
    }
  }

  private static <T extends Library> T load(String name, Class<T> type) {
    return Native.load(name, type);
  }
}
