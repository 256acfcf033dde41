package dev.joule.bridge.gpu;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The GPU kernels' source compiles with NVRTC for the GPUs a node may meet. Needs NVRTC only, no
 * GPU: where it is not installed (set {@code JOULE_CUDA_LIB_DIR} to its folder, or folders separated by ':'), skipped.
 */
class HeadDotsProgramTest {

  static Nvrtc nvrtc() {
    try {
      return CudaLibraries.fromPathList(System.getenv("JOULE_CUDA_LIB_DIR")).nvrtc();
    } catch (UnsatisfiedLinkError e) {
      assumeTrue(false, e.getMessage());
      return null;
    }
  }

  @Test
  void theHeadKernelsCompileForAmpereHopperAndBlackwell() {
    Nvrtc nvrtc = nvrtc();
    for (int cc : new int[] {80, 90, 100}) {
      String ptx = new String(HeadDotsProgram.compile(nvrtc, cc), StandardCharsets.UTF_8);
      assertTrue(ptx.contains(".entry " + HeadDotsProgram.INT8) && ptx.contains(".entry " + HeadDotsProgram.FP32),
          "both kernels in the PTX for compute_" + cc);
      assertTrue(ptx.contains("dp4a"), "int8 dots by dp4a for compute_" + cc);
      assertTrue(ptx.contains(".target sm_" + cc), "PTX for compute_" + cc);
    }
  }

  @Test
  void anNvrtcNewerThanTheDriverIsPassedOverWithTheReason() {
    Nvrtc any = nvrtc();
    com.sun.jna.ptr.IntByReference major = new com.sun.jna.ptr.IntByReference();
    any.nvrtcVersion(major, new com.sun.jna.ptr.IntByReference());
    CudaLibraries libs = CudaLibraries.fromPathList(System.getenv("JOULE_CUDA_LIB_DIR"));
    try {
      libs.nvrtc(major.getValue() - 1);
      assumeTrue(false, "an older NVRTC is installed here too");
    } catch (UnsatisfiedLinkError e) {
      assertTrue(e.getMessage().contains("newer than the driver's CUDA " + (major.getValue() - 1)), e.getMessage());
    }
  }
}
