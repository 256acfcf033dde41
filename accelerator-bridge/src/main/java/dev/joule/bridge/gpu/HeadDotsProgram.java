package dev.joule.bridge.gpu;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.nio.charset.StandardCharsets;

/**
 * The GPU's part of a classifier head: every row's dot with every weight row, one warp per row
 * (its lanes stride over the row, then one warp reduction per class). int8 dots are exact
 * integers ({@code __dp4a} where the dim is a multiple of 4); the kernel's scales, bias and
 * activation are applied on the host by {@code LinearKernel.scoreFromDots}, the same float
 * operations as the CPU kernel, so int8 answers are the CPU's bits. Compiled by NVRTC for the GPU
 * at hand when the backend opens.
 */
final class HeadDotsProgram {

  static final String INT8 = "head_dots_i8";
  static final String FP32 = "head_dots_f32";
  static final int THREADS_PER_BLOCK = 256;
  static final int ROWS_PER_BLOCK = THREADS_PER_BLOCK / 32;

  static final String SOURCE = """
      extern "C" __global__ void head_dots_i8(const signed char* __restrict__ rows, int n, int dim,
                                              const signed char* __restrict__ w, int classes,
                                              int* __restrict__ out) {
        long long row = ((long long) blockIdx.x * blockDim.x + threadIdx.x) >> 5;
        int lane = threadIdx.x & 31;
        if (row >= n) return;  // a whole warp: rows are per warp
        const signed char* x = rows + row * dim;
        for (int j = 0; j < classes; j++) {
          const signed char* wj = w + (long long) j * dim;
          int acc = 0;
          if ((dim & 3) == 0) {
            const int* x4 = (const int*) x;
            const int* w4 = (const int*) wj;
            for (int i = lane; i < (dim >> 2); i += 32) acc = __dp4a(x4[i], w4[i], acc);
          } else {
            for (int i = lane; i < dim; i += 32) acc += (int) x[i] * (int) wj[i];
          }
          for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
          if (lane == 0) out[row * classes + j] = acc;
        }
      }

      extern "C" __global__ void head_dots_f32(const float* __restrict__ rows, int n, int dim,
                                               const float* __restrict__ w, int classes,
                                               float* __restrict__ out) {
        long long row = ((long long) blockIdx.x * blockDim.x + threadIdx.x) >> 5;
        int lane = threadIdx.x & 31;
        if (row >= n) return;
        const float* x = rows + row * dim;
        for (int j = 0; j < classes; j++) {
          const float* wj = w + (long long) j * dim;
          float acc = 0.0f;
          for (int i = lane; i < dim; i += 32) acc = fmaf(x[i], wj[i], acc);
          for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
          if (lane == 0) out[row * classes + j] = acc;
        }
      }
      """;

  private HeadDotsProgram() {}

  /** PTX for a GPU of compute capability {@code cc} (e.g. 90). @throws CudaException with NVRTC's log */
  static byte[] compile(Nvrtc nvrtc, int cc) {
    PointerByReference program = new PointerByReference();
    check(nvrtc, nvrtc.nvrtcCreateProgram(program, SOURCE, "joule_head_dots.cu", 0, null, null), "nvrtcCreateProgram");
    Pointer p = program.getValue();
    try {
      String[] options = {"--gpu-architecture=compute_" + cc};
      int rc = nvrtc.nvrtcCompileProgram(p, options.length, options);
      if (rc != Nvrtc.NVRTC_SUCCESS) {
        throw new CudaException("NVRTC could not compile the head kernels for compute_" + cc + ": "
            + nvrtc.nvrtcGetErrorString(rc) + "\n" + log(nvrtc, p));
      }
      LongByReference size = new LongByReference();
      check(nvrtc, nvrtc.nvrtcGetPTXSize(p, size), "nvrtcGetPTXSize");
      byte[] ptx = new byte[(int) size.getValue()];
      check(nvrtc, nvrtc.nvrtcGetPTX(p, ptx), "nvrtcGetPTX");
      int n = ptx.length;
      while (n > 0 && ptx[n - 1] == 0) {
        n--; // the size counts the NUL
      }
      return java.util.Arrays.copyOf(ptx, n);
    } finally {
      nvrtc.nvrtcDestroyProgram(new PointerByReference(p));
    }
  }

  private static String log(Nvrtc nvrtc, Pointer p) {
    LongByReference size = new LongByReference();
    if (nvrtc.nvrtcGetProgramLogSize(p, size) != 0 || size.getValue() <= 1) {
      return "(no log)";
    }
    byte[] log = new byte[(int) size.getValue()];
    nvrtc.nvrtcGetProgramLog(p, log);
    return new String(log, 0, log.length - 1, StandardCharsets.UTF_8);
  }

  private static void check(Nvrtc nvrtc, int rc, String call) {
    if (rc != Nvrtc.NVRTC_SUCCESS) {
      throw new CudaException(call + " failed: " + nvrtc.nvrtcGetErrorString(rc));
    }
  }
}
