// Vectorised 8-bit (u8/s8) MaxPool without Indices on NCHW data: the job in
// plain C types, and its AVX-512BW entry points (maxpool8_avx512.cpp; call
// them only after cpu_has("avx512f")).
#pragma once
#include <cstdint>

namespace snep {
namespace mp8 {

struct Job {
  const uint8_t* x;
  uint8_t* y;
  bool sgn;                 // int8 (else uint8)
  int64_t isz, osz;         // elements per N*C plane
  int64_t rows, iw, ow;     // output rows per plane (depth x height); input and output row widths
  // Output row r of a plane is the max over the input rows starting at
  // row_off[row_beg[r] .. row_beg[r+1]) within the plane (none: all-pad window).
  const int64_t *row_beg, *row_off;
  int64_t kw, sw, dw, pw;   // horizontal taps, stride (1 or 2), dilation, left pad
  const uint64_t* masks;    // mask_words(*this) words, filled by fill_masks
};

// Per 64-output chunk and horizontal load, the lanes that read input columns.
int64_t mask_words(const Job& j);
void fill_masks(const Job& j, uint64_t* masks);

// Output rows [rb, re), counted over planes x rows; a window with no valid
// tap gives the type's lowest value (as the generic loop).
void rows_avx512(const Job& j, int64_t rb, int64_t re);

}  // namespace mp8
}  // namespace snep
