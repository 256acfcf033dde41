package dev.joule.bridge.gpu;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * NVRTC, the CUDA toolkit's runtime compiler ({@code libnvrtc.so.N}): turns the backend's CUDA C
 * source into PTX for the GPU at hand, once per node start, so no compiled GPU code ships in
 * the jar. Every call returns an {@code nvrtcResult} (0 = success).
 */
public interface Nvrtc extends Library {

  int NVRTC_SUCCESS = 0;

  int nvrtcVersion(IntByReference major, IntByReference minor);

  int nvrtcCreateProgram(PointerByReference program, String source, String name, int headers,
      String[] headerSources, String[] includeNames);

  int nvrtcCompileProgram(Pointer program, int options, String[] optionValues);

  int nvrtcGetPTXSize(Pointer program, LongByReference size);

  int nvrtcGetPTX(Pointer program, byte[] ptx);

  int nvrtcGetProgramLogSize(Pointer program, LongByReference size);

  int nvrtcGetProgramLog(Pointer program, byte[] log);

  int nvrtcDestroyProgram(PointerByReference program);

  String nvrtcGetErrorString(int result);
}
