// The NHWC kernels (nhwc_kernels_impl.h) built for avx512.
#define SNEP_NHWC_LANES 16
#include "cpu/layout/nhwc_kernels_impl.h"

SNEP_NHWC_ENTRY_POINTS(avx512)
