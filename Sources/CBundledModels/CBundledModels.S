// The bundled models' bytes, embedded in the binary's read-only data so that `streamrnn` finds its
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
    .section .note.GNU-stack,"",@progbits
