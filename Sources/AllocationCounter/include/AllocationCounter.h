#ifndef STREAMRNN_ALLOCATION_COUNTER_H
#define STREAMRNN_ALLOCATION_COUNTER_H

#include <stdint.h>

/// Starts counting heap allocations made by the calling thread and zeroes its count.
///
/// Counting works by defining malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign,
/// valloc and pvalloc in the executable that links this target; they forward to glibc's
/// `__libc_*` entry points. Only the calling thread is counted, so other threads (parallel tests,
/// the runtime) cannot disturb a measurement.
void allocation_counter_start(void);

/// Stops counting on the calling thread and returns how many allocations it made since
/// `allocation_counter_start()`.
uint64_t allocation_counter_stop(void);

#endif
