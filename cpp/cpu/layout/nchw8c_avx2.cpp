// The channel-blocked kernels (blocked_kernels_impl.h) for NCHW8c: one ymm per pixel's 8 channels.
#define SNEP_BLOCK_LANES 8
#include "cpu/layout/blocked_kernels_impl.h"

SNEP_BLOCKED_ENTRY_POINTS(8c_avx2)
