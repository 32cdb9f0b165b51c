// Shared between the emulator's runtime (emu_runtime.cc) and its scheduler (emu_sched.cc).
#ifndef FRACTAL_CUDA_EMU_INTERNAL_H
#define FRACTAL_CUDA_EMU_INTERNAL_H

#include <string>

#include "emu.h"

namespace fr_emu {

// The calling host thread's last error (what cudaGetLastError returns and clears).
void set_error(cudaError_t e);
// Records a kernel bug found by the scheduler: printed once to stderr and kept for fr_emu_last_report.
void report(const std::string &text);
// The emulated device's limits (cudaGetDeviceProperties of device 0).
const cudaDeviceProp &device_props();
// Checks that a stream handle is 0 or one cudaStreamCreate made.
bool stream_valid(cudaStream_t s);

} // namespace fr_emu

#endif
