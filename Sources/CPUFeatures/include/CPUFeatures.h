#ifndef STREAMRNN_CPU_FEATURES_H
#define STREAMRNN_CPU_FEATURES_H
/// 1 when the CPU and OS run the AVX-512 kernels (AVX-512 F, CD, BW, DQ, VL: what
/// `-target-cpu skylake-avx512` may emit, plus FMA), else 0. Always 0 off x86-64.
int streamrnn_cpu_supports_avx512(void);
/// 1 when the CPU and OS run the AVX2 + FMA kernels (`-target-cpu haswell`), else 0.
int streamrnn_cpu_supports_avx2(void);
#endif
