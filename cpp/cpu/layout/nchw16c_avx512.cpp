// The channel-blocked kernels (blocked_kernels_impl.h) for NCHW16c: one zmm per pixel's 16 channels.
#define SNEP_BLOCK_LANES 16
#include "cpu/layout/blocked_kernels_impl.h"

SNEP_BLOCKED_ENTRY_POINTS(16c_avx512)
