/* Portable helpers for the hand-written C in ext/: atomics with explicit
 * ordering and "let another thread run", for GCC, Clang and MSVC.
 *
 * GCC and Clang (Linux, macOS, MinGW): the __atomic builtins, which work on
 * plain (non-_Atomic) objects and so need no change to the callers' types.
 * MSVC: the Interlocked intrinsics (full barriers, which are at least as
 * strong as the acquire/release asked for) and SwitchToThread.
 */
#ifndef GF_PORTABLE_H
#define GF_PORTABLE_H

#include <stddef.h>
#include <stdint.h>

#if defined(_MSC_VER) && !defined(__clang__)

#include <intrin.h>
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#if defined(_WIN64)
typedef __int64 gf_ssize_word;
#define GF_ILOAD(p) _InterlockedOr64((volatile __int64 *)(p), 0)
#define GF_ISTORE(p, v) _InterlockedExchange64((volatile __int64 *)(p), (__int64)(v))
#else
typedef long gf_ssize_word;
#define GF_ILOAD(p) _InterlockedOr((volatile long *)(p), 0)
#define GF_ISTORE(p, v) _InterlockedExchange((volatile long *)(p), (long)(v))
#endif

static __inline Py_ssize_t gf_load_acquire_ssize(const Py_ssize_t *p) {
    return (Py_ssize_t)GF_ILOAD(p);
}
static __inline void gf_store_release_ssize(Py_ssize_t *p, Py_ssize_t v) {
    (void)GF_ISTORE(p, v);
}
static __inline int64_t gf_fetch_sub_i64(int64_t *p, int64_t v) {
    return (int64_t)_InterlockedExchangeAdd64((volatile __int64 *)p, -(__int64)v);
}
static __inline void gf_yield_thread(void) { (void)SwitchToThread(); }

#elif defined(__GNUC__) || defined(__clang__)

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
static inline void gf_yield_thread(void) { (void)SwitchToThread(); }
#else
#include <sched.h>
static inline void gf_yield_thread(void) { (void)sched_yield(); }
#endif

static inline Py_ssize_t gf_load_acquire_ssize(const Py_ssize_t *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void gf_store_release_ssize(Py_ssize_t *p, Py_ssize_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline int64_t gf_fetch_sub_i64(int64_t *p, int64_t v) {
    return __atomic_fetch_sub(p, v, __ATOMIC_ACQ_REL);
}

#else
#error "gilfree: ext/gf_portable.h knows GCC, Clang and MSVC; add atomics for this compiler"
#endif

#endif /* GF_PORTABLE_H */
