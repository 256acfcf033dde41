package dev.joule.bridge.gpu;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * The part of the CUDA driver API ({@code libcuda.so.1}, installed with the NVIDIA driver) the GPU
 * backend uses, bound with JNA as {@code NvmlMeter} binds NVML. Every call returns a
 * {@code CUresult} (0 = success). Device pointers ({@code CUdeviceptr}) are 64-bit integers;
 * {@code size_t} is a Java long (LP64 Linux).
 */
public interface CudaDriver extends Library {

  int CUDA_SUCCESS = 0;
  int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
  int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

  int cuInit(int flags);

  int cuDriverGetVersion(IntByReference version);

  int cuDeviceGetCount(IntByReference count);

  int cuDeviceGet(IntByReference device, int ordinal);

  int cuDeviceGetName(byte[] name, int length, int device);

  int cuDeviceGetAttribute(IntByReference value, int attribute, int device);

  int cuDeviceTotalMem_v2(LongByReference bytes, int device);

  int cuDeviceGetPCIBusId(byte[] busId, int length, int device);

  /** Before the primary context is made: how a synchronize waits (spin, yield, block). */
  int cuDevicePrimaryCtxSetFlags_v2(int device, int flags);

  int CU_CTX_SCHED_BLOCKING_SYNC = 0x04;

  int cuDevicePrimaryCtxRetain(PointerByReference context, int device);

  int cuCtxSynchronize();

  int cuDevicePrimaryCtxRelease_v2(int device);

  int cuCtxSetCurrent(Pointer context);

  int cuMemAlloc_v2(LongByReference devicePointer, long bytes);

  int cuMemFree_v2(long devicePointer);

  int cuMemAllocHost_v2(PointerByReference hostPointer, long bytes);

  int cuMemFreeHost(Pointer hostPointer);

  int cuMemcpyHtoD_v2(long destination, Pointer source, long bytes);

  int cuMemcpyHtoDAsync_v2(long destination, Pointer source, long bytes, Pointer stream);

  int cuMemcpyDtoHAsync_v2(Pointer destination, long source, long bytes, Pointer stream);

  int cuStreamCreate(PointerByReference stream, int flags);

  int cuStreamSynchronize(Pointer stream);

  int cuStreamDestroy_v2(Pointer stream);

  /** @param image PTX text, NUL-terminated */
  int cuModuleLoadData(PointerByReference module, byte[] image);

  int cuModuleGetFunction(PointerByReference function, Pointer module, String name);

  int cuModuleUnload(Pointer module);

  int cuLaunchKernel(Pointer function, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ,
      int sharedMemBytes, Pointer stream, Pointer kernelParams, Pointer extra);

  int cuGetErrorName(int error, PointerByReference name);

  int cuGetErrorString(int error, PointerByReference text);
}
