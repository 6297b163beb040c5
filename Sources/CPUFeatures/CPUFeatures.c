// CPU feature checks for the kernel dispatch. __builtin_cpu_supports also checks that the OS saves
// the wider registers (XGETBV), so a "yes" means the instructions will run.
#include "CPUFeatures.h"

#if defined(__x86_64__)
int streamrnn_cpu_supports_avx512(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
}
int streamrnn_cpu_supports_avx2(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2") &&
         __builtin_cpu_supports("f16c");
}
#else
int streamrnn_cpu_supports_avx512(void) { return 0; }
int streamrnn_cpu_supports_avx2(void) { return 0; }
#endif
