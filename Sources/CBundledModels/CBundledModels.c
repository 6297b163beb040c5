#include "CBundledModels.h"

extern const unsigned char streamrnn_silero_vad_16k_start[];
extern const unsigned char streamrnn_silero_vad_16k_end[];

const unsigned char *streamrnn_silero_vad_16k_bytes(void) { return streamrnn_silero_vad_16k_start; }

size_t streamrnn_silero_vad_16k_count(void) {
  return (size_t)(streamrnn_silero_vad_16k_end - streamrnn_silero_vad_16k_start);
}

extern const unsigned char streamrnn_demo_speech_start[];
extern const unsigned char streamrnn_demo_speech_end[];

const unsigned char *streamrnn_demo_speech_bytes(void) { return streamrnn_demo_speech_start; }

size_t streamrnn_demo_speech_count(void) {
  return (size_t)(streamrnn_demo_speech_end - streamrnn_demo_speech_start);
}
