// Counts heap allocations per thread by interposing the allocator entry points.
//
// Symbols defined in an executable take precedence over the same symbols in shared libraries
// (ELF lookup order), so libswiftCore's and libc's own calls to malloc land here too. We forward
// to glibc's exported `__libc_*` functions, which avoids dlsym(RTLD_NEXT) and its own allocations.
// Only glibc is supported; elsewhere the counter always reads 0, which the tests' positive
// control (a deliberate allocation must be counted) turns into a failure, never a vacuous pass.
#include "AllocationCounter.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define STREAMRNN_SANITIZED 1
#endif
#endif

#if defined(STREAMRNN_SANITIZED)
// Under AddressSanitizer or ThreadSanitizer the sanitizer owns malloc: replacing it would hand its
// free() memory it never allocated. Count through the sanitizer's allocation hook instead.
#include <stddef.h>

extern int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void *, size_t), void (*free_hook)(const volatile void *));

static __thread int counting __attribute__((tls_model("initial-exec")));
static __thread uint64_t count __attribute__((tls_model("initial-exec")));

static void on_malloc(const volatile void *pointer, size_t size) {
  (void)pointer;
  (void)size;
  if (counting) count += 1;
}

static void on_free(const volatile void *pointer) { (void)pointer; }

__attribute__((constructor)) static void install_hooks(void) {
  __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}

void allocation_counter_start(void) {
  count = 0;
  counting = 1;
}

uint64_t allocation_counter_stop(void) {
  counting = 0;
  return count;
}

#elif defined(__linux__) && defined(__GLIBC__)
#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

// initial-exec TLS: no lazy allocation on first access from inside malloc itself.
static __thread int counting __attribute__((tls_model("initial-exec")));
static __thread uint64_t count __attribute__((tls_model("initial-exec")));

static inline void note_allocation(void) {
  if (counting) count += 1;
}

void *malloc(size_t size) {
  note_allocation();
  return __libc_malloc(size);
}

void *calloc(size_t count_, size_t size) {
  note_allocation();
  return __libc_calloc(count_, size);
}

void *realloc(void *pointer, size_t size) {
  note_allocation();
  return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
  note_allocation();
  return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
  note_allocation();
  return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
  note_allocation();
  if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
  void *pointer = __libc_memalign(alignment, size);
  if (pointer == NULL && size != 0) return ENOMEM;
  *out = pointer;
  return 0;
}

void *valloc(size_t size) {
  note_allocation();
  return __libc_valloc(size);
}

void *pvalloc(size_t size) {
  note_allocation();
  return __libc_pvalloc(size);
}

void allocation_counter_start(void) {
  count = 0;
  counting = 1;
}

uint64_t allocation_counter_stop(void) {
  counting = 0;
  return count;
}

#else

void allocation_counter_start(void) {}
uint64_t allocation_counter_stop(void) { return 0; }

#endif
