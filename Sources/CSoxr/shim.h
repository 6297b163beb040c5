#ifndef STREAMRNN_CSOXR_SHIM_H
#define STREAMRNN_CSOXR_SHIM_H
// libsoxr (Debian libsoxr-dev). Only AudioFile/SoxrCalls.swift calls into it.
#include <soxr.h>

// soxr_quality_spec and soxr_io_spec return structs and take recipe macros; these wrappers keep
// the macro spellings on the C side.
static inline soxr_quality_spec_t streamrnn_soxr_high_quality(void) {
  return soxr_quality_spec(SOXR_HQ, 0);
}
static inline soxr_io_spec_t streamrnn_soxr_float32_io(void) {
  return soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
}
#endif
