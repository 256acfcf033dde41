package dev.joule.bridge.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.jna.Memory;
import com.sun.jna.ptr.PointerByReference;
import dev.joule.bridge.kernel.EncodedRows;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.KernelOutput;
import dev.joule.bridge.node.CpuBackend;
import dev.joule.bridge.node.ScoringBackend;
import dev.joule.bridge.vector.ScalarVectorOps;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The GPU backend's refusals, tested without a GPU, and the node's routing of declined kernels. */
class CudaBackendTest {

  /** A CUDA driver stand-in: each call answers the code given for it (0 otherwise), with CUDA's names. */
  static CudaDriver driver(Map<String, Integer> failing) {
    return (CudaDriver) Proxy.newProxyInstance(CudaDriver.class.getClassLoader(), new Class<?>[] {CudaDriver.class},
        (proxy, method, args) -> switch (method.getName()) {
          case "cuGetErrorName" -> {
            Memory m = new Memory(64);
            m.setString(0, (Integer) args[0] == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_" + args[0]);
            ((PointerByReference) args[1]).setValue(m);
            yield 0;
          }
          case "cuGetErrorString" -> {
            Memory m = new Memory(64);
            m.setString(0, "no CUDA-capable device is detected");
            ((PointerByReference) args[1]).setValue(m);
            yield 0;
          }
          case "toString" -> "fake driver";
          case "hashCode" -> 0;
          case "equals" -> proxy == args[0];
          default -> failing.getOrDefault(method.getName(), 0);
        });
  }

  @Test
  void withoutADriverTheBackendIsRefusedWithTheReason() {
    CudaBackend.Opening o = CudaBackend.open(driver(Map.of("cuInit", 100)), CudaBackend.Settings.defaults(),
        ScalarVectorOps.INSTANCE);
    assertNull(o.backend());
    assertTrue(o.refusal().contains("cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)"), o.refusal());
    CudaBackend.Opening none = CudaBackend.open(driver(Map.of()), new CudaBackend.Settings(3, new CudaLibraries(List.of()), 4),
        ScalarVectorOps.INSTANCE);
    assertTrue(none.refusal().contains("GPU 3 asked for, the driver sees 0"), none.refusal());
  }

  @Test
  void onThisMachineTheRefusalNamesTheMissingDriver() {
    boolean driverPresent;
    try {
      new CudaLibraries(List.of()).driver();
      driverPresent = true;
    } catch (UnsatisfiedLinkError e) {
      driverPresent = false;
    }
    assumeTrue(!driverPresent, "this machine has an NVIDIA driver: CudaBackendGpuIT tests the backend itself");
    CudaBackend.Opening o = CudaBackend.open(CudaBackend.Settings.defaults(), ScalarVectorOps.INSTANCE);
    assertNull(o.backend());
    assertEquals("no NVIDIA driver: libcuda.so.1 not found", o.refusal());
  }

  @Test
  void aMissingNvrtcIsNamedWithWhereItWasLookedFor(@TempDir Path empty) throws Exception {
    assumeTrue(CudaLibraries.USUAL_FOLDERS.stream().noneMatch(f -> CudaLibraries.NVRTC_NAMES.stream()
        .anyMatch(n -> Files.exists(f.resolve(n)))), "NVRTC is installed here");
    try {
      new CudaLibraries(List.of(empty)).nvrtc();
      assumeTrue(false, "NVRTC is on the linker's path here");
    } catch (UnsatisfiedLinkError e) {
      assertTrue(e.getMessage().startsWith("NVRTC (the CUDA toolkit's runtime compiler) not found")
          && e.getMessage().contains("--cuda-lib-dir"), e.getMessage());
    }
  }

  @Test
  void nvrtcFoldersComeAsAPathList() {
    assertEquals(List.of(Path.of("/a/lib"), Path.of("/b")), CudaLibraries.fromPathList("/a/lib::/b ").folders());
    assertEquals(List.of(), CudaLibraries.fromPathList(null).folders());
    assertEquals(List.of(), CudaLibraries.fromPathList(" ").folders());
  }

  @Test
  void kernelsABackendDeclinesRunOnTheFallbackAndAreReportedOnce() {
    List<String> reported = new ArrayList<>();
    ScoringBackend gpu = new ScoringBackend() {
      @Override
      public String name() {
        return "test gpu";
      }

      @Override
      public String declines(Kernel kernel, dev.joule.bridge.kernel.Precision rows) {
        return kernel.op().equals("topk") ? "no top-k here" : null;
      }

      @Override
      public void score(Kernel kernel, EncodedRows rows, KernelOutput out) {
        throw new AssertionError("not called in this test");
      }
    };
    CpuBackend cpu = new CpuBackend(ScalarVectorOps.INSTANCE);
    ScoringBackend routed = gpu.withFallback(cpu, (k, why) -> reported.add(k.displayName() + ": " + why));
    Kernel topk = dev.joule.bridge.kernel.TopKKernel.fromReference(new float[] {1, 0, 0, 1}, 2, 2,
        List.of("a", "b"), dev.joule.bridge.kernel.Similarity.COSINE, 1, dev.joule.bridge.kernel.Precision.FP32, 1, null);
    Kernel head = dev.joule.bridge.kernel.LinearKernel.fromWeights(new float[][] {{1, 0}, {0, 1}}, new float[2],
        List.of("a", "b"), dev.joule.bridge.kernel.Activation.SOFTMAX, dev.joule.bridge.kernel.Precision.FP32);
    EncodedRows rows = EncodedRows.fp32(1, 2, new float[] {1, 2});
    assertSame(cpu, routed.choose(topk, rows.precision()));
    assertSame(cpu, routed.choose(topk, rows.precision()));
    assertSame(gpu, routed.choose(head, rows.precision()));
    assertEquals(1, reported.size(), reported.toString());
    assertTrue(reported.get(0).contains("no top-k here"));
  }
}
