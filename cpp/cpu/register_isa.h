// SNEP_REGISTER_LAMBDA with an ISA: the routine is usable only where cpu_has(ISA).
//   SNEP_REGISTER_LAMBDA_ISA("Conv", "cpu:bfloat16:nchw/im2col_gemm", supports_fn, prepare_fn, "avx512_bf16")
#pragma once
#include <memory>

#include "core/routine.h"

#define SNEP_REGISTER_LAMBDA_ISA(OP, DESC, SUPPORTS, PREPARE, ISA)              \
  static const bool SNEP_CONCAT(snep_registered_, __LINE__) = [] {              \
    ::snep::Registry::get().add(std::make_unique<::snep::LambdaRoutine>(OP, DESC, SUPPORTS, PREPARE, ISA)); \
    return true; }()
