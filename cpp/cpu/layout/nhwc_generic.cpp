// The NHWC kernels (nhwc_kernels_impl.h) built for generic.
#define SNEP_NHWC_LANES 4
#include "cpu/layout/nhwc_kernels_impl.h"

SNEP_NHWC_ENTRY_POINTS(generic)
