// Per-thread counts of what a toolchain update can add to every message without
// failing anything else (docs/runtime-tricks.md#the-census): heap allocations,
// retains, task-allocator frames, dynamic exclusivity checks and executor switches,
// counted only on threads that ask for it.
//
// - Allocations: this file defines malloc and its siblings, so that every one in
//   the test process comes here first (the test executable's definitions come
//   before libc's) and goes on to glibc's own (`__libc_*`, or `dlsym(RTLD_NEXT)`).
// - Retains, frames, exclusivity checks, executor switches: this file defines
//   swift_retain, swift_retain_n, swift_task_alloc, swift_beginAccess and
//   swift_task_switch, forwarding to the runtime's (`dlsym(RTLD_NEXT)`). Calls from
//   code linked into the test executable (Netpoll and the tests) come here, and so
//   do the concurrency runtime's retains (libswift_Concurrency calls swift_retain
//   through its PLT); calls that stay inside one runtime library (libswiftCore's
//   own retains, the concurrency runtime's own task allocations) are not seen.
//
// Not the runtime's retain hooks (`_swift_retain` behind
// `_swift_enableSwizzlingOfAllocationAndRefCountingFunctions_forInstrumentsOnly`):
// with swiftc 6.3 on x86-64 Linux their adapter masks the spare bits off a tagged
// value (a small string's object) before calling the hook, which then dereferences
// it (a crash on the first one seen here).
//
// A sanitizer build has its own malloc (and its interceptors): nothing is defined
// there, and `cnp_census_check` says why.
#define _GNU_SOURCE
#include "cnetpoll_test_support.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer) || \
    defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CENSUS 0
#else
#define CENSUS 1
#endif

static __thread bool counting;
static uint64_t mallocs, retains, frames, accesses, switches;

void cnp_census_count_this_thread(int on) { counting = on != 0; }

cnp_census_counts cnp_census_read(void) {
    return (cnp_census_counts){
        .mallocs = __atomic_load_n(&mallocs, __ATOMIC_ACQUIRE),
        .retains = __atomic_load_n(&retains, __ATOMIC_ACQUIRE),
        .frames = __atomic_load_n(&frames, __ATOMIC_ACQUIRE),
        .accesses = __atomic_load_n(&accesses, __ATOMIC_ACQUIRE),
        .switches = __atomic_load_n(&switches, __ATOMIC_ACQUIRE),
    };
}

void cnp_census_keep(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

static inline void note(uint64_t *counter) {
    if (__builtin_expect(counting, 0)) __atomic_fetch_add(counter, 1, __ATOMIC_RELEASE);
}

#if CENSUS

// MARK: allocations

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

void *malloc(size_t size) {
    note(&mallocs);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    note(&mallocs);
    return __libc_calloc(count, size);
}

void *realloc(void *p, size_t size) {
    note(&mallocs);
    return __libc_realloc(p, size);
}

void *memalign(size_t alignment, size_t size) {
    note(&mallocs);
    return __libc_memalign(alignment, size);
}

// glibc's own checks, for the two that have them (through dlsym: no __libc_ name).
typedef int (*posix_memalign_fn)(void **out, size_t alignment, size_t size);
typedef void *(*aligned_alloc_fn)(size_t alignment, size_t size);

int posix_memalign(void **out, size_t alignment, size_t size) {
    static posix_memalign_fn real;
    if (real == NULL) real = (posix_memalign_fn)dlsym(RTLD_NEXT, "posix_memalign");
    note(&mallocs);
    return real(out, alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    static aligned_alloc_fn real;
    if (real == NULL) real = (aligned_alloc_fn)dlsym(RTLD_NEXT, "aligned_alloc");
    note(&mallocs);
    return real(alignment, size);
}

// MARK: task-allocator frames

typedef __attribute__((swiftcall)) void *(*task_alloc_fn)(size_t size);
static task_alloc_fn real_task_alloc;

__attribute__((swiftcall)) void *swift_task_alloc(size_t size) {
    task_alloc_fn real = __atomic_load_n(&real_task_alloc, __ATOMIC_RELAXED);
    if (__builtin_expect(real == NULL, 0)) {
        real = (task_alloc_fn)dlsym(RTLD_NEXT, "swift_task_alloc");
        __atomic_store_n(&real_task_alloc, real, __ATOMIC_RELAXED);
    }
    note(&frames);
    return real(size);
}

// MARK: dynamic exclusivity checks

typedef void (*begin_access_fn)(void *pointer, void *buffer, uintptr_t flags, void *pc);
static begin_access_fn real_begin_access;

void swift_beginAccess(void *pointer, void *buffer, uintptr_t flags, void *pc) {
    begin_access_fn real = __atomic_load_n(&real_begin_access, __ATOMIC_RELAXED);
    if (__builtin_expect(real == NULL, 0)) {
        real = (begin_access_fn)dlsym(RTLD_NEXT, "swift_beginAccess");
        __atomic_store_n(&real_begin_access, real, __ATOMIC_RELAXED);
    }
    note(&accesses);
    // The runtime names the access by `pc` in a conflict report, or by its caller
    // when `pc` is NULL, which is now this function: pass the real caller.
    real(pointer, buffer, flags, pc != NULL ? pc : __builtin_return_address(0));
}

// MARK: executor switches

// swift_task_switch(resumeContext, resumeFunction, newExecutor): a swiftasync
// function the compiler tail-calls at every hop point.
typedef struct {
    void *identity;
    uintptr_t implementation;
} executor_ref;
typedef __attribute__((swiftasynccall)) void (*task_switch_fn)(
    __attribute__((swift_async_context)) void *context, void *resume, executor_ref executor);
static task_switch_fn real_task_switch;

__attribute__((swiftasynccall)) void swift_task_switch(
    __attribute__((swift_async_context)) void *context, void *resume, executor_ref executor) {
    task_switch_fn real = __atomic_load_n(&real_task_switch, __ATOMIC_RELAXED);
    if (__builtin_expect(real == NULL, 0)) {
        real = (task_switch_fn)dlsym(RTLD_NEXT, "swift_task_switch");
        __atomic_store_n(&real_task_switch, real, __ATOMIC_RELAXED);
    }
    note(&switches);
    __attribute__((musttail)) return real(context, resume, executor);
}

// MARK: retains

typedef void *(*retain_fn)(void *object);
typedef void *(*retain_n_fn)(void *object, uint32_t n);
static retain_fn real_retain;
static retain_n_fn real_retain_n;

void *swift_retain(void *object) {
    retain_fn real = __atomic_load_n(&real_retain, __ATOMIC_RELAXED);
    if (__builtin_expect(real == NULL, 0)) {
        real = (retain_fn)dlsym(RTLD_NEXT, "swift_retain");
        __atomic_store_n(&real_retain, real, __ATOMIC_RELAXED);
    }
    note(&retains);
    return real(object);
}

void *swift_retain_n(void *object, uint32_t n) {
    retain_n_fn real = __atomic_load_n(&real_retain_n, __ATOMIC_RELAXED);
    if (__builtin_expect(real == NULL, 0)) {
        real = (retain_n_fn)dlsym(RTLD_NEXT, "swift_retain_n");
        __atomic_store_n(&real_retain_n, real, __ATOMIC_RELAXED);
    }
    note(&retains);
    return real(object, n);
}

const char *cnp_census_check(void) {
    static const char *const names[] = {
        "swift_retain", "swift_retain_n", "swift_task_alloc", "swift_beginAccess", "swift_task_switch",
    };
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (dlsym(RTLD_NEXT, names[i]) == NULL) {
            return "a runtime function the census forwards to is missing (swift_retain, swift_retain_n, "
                   "swift_task_alloc, swift_beginAccess or swift_task_switch): count another way (census.c)";
        }
    }
    return NULL;
}

#else

const char *cnp_census_check(void) {
    return "a sanitizer build has its own malloc and interceptors: the census counts "
           "in plain builds only";
}

#endif
