// Element types, numbered as ONNX TensorProto.DataType numbers them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace snep {

enum class DType : int {
  Undefined = 0, Float32 = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5,
  Int32 = 6, Int64 = 7, String = 8, Bool = 9, Float16 = 10, Float64 = 11,
  UInt32 = 12, UInt64 = 13, BFloat16 = 16,
};

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: case DType::Int32: case DType::UInt32: return 4;
    case DType::UInt8: case DType::Int8: case DType::Bool: return 1;
    case DType::UInt16: case DType::Int16: case DType::Float16: case DType::BFloat16: return 2;
    case DType::Int64: case DType::Float64: case DType::UInt64: return 8;
    default: return 0;
  }
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32"; case DType::UInt8: return "uint8";
    case DType::Int8: return "int8"; case DType::UInt16: return "uint16";
    case DType::Int16: return "int16"; case DType::Int32: return "int32";
    case DType::Int64: return "int64"; case DType::Bool: return "bool";
    case DType::Float16: return "float16"; case DType::Float64: return "float64";
    case DType::UInt32: return "uint32"; case DType::UInt64: return "uint64";
    case DType::BFloat16: return "bfloat16"; case DType::String: return "string";
    default: return "undefined";
  }
}

// Calls f(T{}) with the C++ type of a numeric dtype (half types excluded).
#define SNEP_DISPATCH_NUMERIC(DT, T, ...)                                   \
  switch (DT) {                                                             \
    case ::snep::DType::Float32: { using T = float; __VA_ARGS__; break; }    \
    case ::snep::DType::Float64: { using T = double; __VA_ARGS__; break; }   \
    case ::snep::DType::Int64: { using T = int64_t; __VA_ARGS__; break; }    \
    case ::snep::DType::Int32: { using T = int32_t; __VA_ARGS__; break; }    \
    case ::snep::DType::Int16: { using T = int16_t; __VA_ARGS__; break; }    \
    case ::snep::DType::Int8: { using T = int8_t; __VA_ARGS__; break; }      \
    case ::snep::DType::UInt8: { using T = uint8_t; __VA_ARGS__; break; }    \
    case ::snep::DType::UInt16: { using T = uint16_t; __VA_ARGS__; break; }  \
    case ::snep::DType::UInt32: { using T = uint32_t; __VA_ARGS__; break; }  \
    case ::snep::DType::UInt64: { using T = uint64_t; __VA_ARGS__; break; }  \
    case ::snep::DType::Bool: { using T = bool; __VA_ARGS__; break; }        \
    default: throw ::snep::NotImplementedError(std::string("dtype ") +      \
                                               ::snep::dtype_name(DT) + " not supported here"); \
  }

}  // namespace snep
