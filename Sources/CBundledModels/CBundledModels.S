// The bundled models' bytes (and a short recording for benchmarks, a copy of
// Examples/demo/speech_with_pauses.wav), embedded in the binary's read-only data so that `streamrnn` finds its
// default model wherever it is copied (no resource folder beside it, no Foundation Bundle lookup).
// `.incbin` finds the file through the target's header search path ("."). After replacing the
// model file, touch this file: the build does not see the dependency.
    .section .rodata
    .balign 64
    .global streamrnn_silero_vad_16k_start
streamrnn_silero_vad_16k_start:
    .incbin "silero_vad_16k.safetensors"
    .global streamrnn_silero_vad_16k_end
streamrnn_silero_vad_16k_end:
    .balign 64
    .global streamrnn_demo_speech_start
streamrnn_demo_speech_start:
    .incbin "demo_speech_16k.wav"
    .global streamrnn_demo_speech_end
streamrnn_demo_speech_end:
    .section .note.GNU-stack,"",@progbits
