#ifndef STREAMRNN_CALSA_SHIM_H
#define STREAMRNN_CALSA_SHIM_H
// libasound (Debian libasound2-dev). Only ALSACapture/ALSACalls.swift calls into it.
#include <alsa/asoundlib.h>

// snd_lib_error_handler_t is variadic, which Swift cannot implement: the no-op handler lives here.
static void streamrnn_alsa_quiet_handler(const char *file, int line, const char *function, int err,
                                         const char *fmt, ...) {
  (void)file; (void)line; (void)function; (void)err; (void)fmt;
}

/// Stops libasound from printing its own diagnostics on stderr (we report errors ourselves).
static inline void streamrnn_alsa_silence_errors(void) {
  snd_lib_error_set_handler(streamrnn_alsa_quiet_handler);
}
#endif
