#ifndef STREAMRNN_BUNDLED_MODELS_H
#define STREAMRNN_BUNDLED_MODELS_H

#include <stddef.h>

/// The bundled Silero VAD model file (safetensors, see Scripts/convert_silero.py): its first byte.
const unsigned char *streamrnn_silero_vad_16k_bytes(void);

/// The bundled Silero VAD model file's size in bytes.
size_t streamrnn_silero_vad_16k_count(void);

/// A 16 kHz mono WAV of speech with pauses (Examples/demo/speech_with_pauses.wav), for benchmarks.
const unsigned char *streamrnn_demo_speech_bytes(void);

size_t streamrnn_demo_speech_count(void);

#endif
