/*
 * Thread pool for the kernels: a fixed set of persistent workers that run
 * one job at a time, each job being fn(arg, ith, nth) on every thread with
 * the caller as thread 0. The forward pass runs several jobs per layer, so
 * the hand-off must cost microseconds, not a syscall: workers spin on a
 * generation counter for a while after each job and only then sleep on a
 * condition variable; the caller likewise spins for completion before it
 * sleeps. Sleeping and waking use the Dekker pattern (store own flag,
 * then read the other side's) with sequentially consistent atomics, so a
 * wake-up can never be lost.
 *
 * Invariants:
 *  1. gen only changes in lf_pool_run (and lf_pool_free), by the caller,
 *     after fn/arg are written; workers read fn/arg after seeing gen move.
 *  2. pending counts the workers that have not finished the current job;
 *     it reaches 0 before lf_pool_run returns, so fn/arg are never
 *     rewritten while a worker still uses them.
 *  3. A thread sleeps only with its counter (nsleep / caller_sleeping) set
 *     under the mutex, and re-checks the condition after setting it.
 */
#include "kernels/internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ volatile("yield" ::: "memory")
#else
#define cpu_relax() ((void)0)
#endif

/* Spin iterations (of a pause, ~20-140 cycles depending on the core)
 * before sleeping: a fraction of a millisecond, far longer than the gap
 * between consecutive jobs of a forward pass, short enough that an idle
 * pool soon stops burning CPU.
 * Every LF_POOL_YIELD_EVERY iterations a spinner yields its CPU, so when
 * threads outnumber free cores (a loaded machine, more threads than CPUs)
 * the thread being waited for gets to run instead of losing a whole time
 * slice to the spinner. */
#define LF_POOL_SPIN 20000
#define LF_POOL_YIELD_EVERY 256

static inline void spin_pause(int k) {
    if ((k + 1) % LF_POOL_YIELD_EVERY == 0)
        sched_yield();
    else
        cpu_relax();
}

typedef struct lf_worker {
    struct lf_pool *pool;
    int ith;
    int cpu;                  /* CPU to pin to, or -1 */
    pthread_t thread;
    void *scratch;            /* lf_pool_scratch, owned by this worker */
    size_t scratch_size;
} lf_worker;

struct lf_pool {
    int n;                    /* threads including the caller */
    lf_worker *workers;       /* n - 1 entries */
    lf_pool_fn fn;
    void *arg;
    _Alignas(64) atomic_uint gen;
    _Alignas(64) atomic_int pending;
    _Alignas(64) atomic_int nsleep;
    atomic_int caller_sleeping;
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    int spin;                 /* spin iterations before sleeping */
};

void lf_split_range(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi) {
    if (nth < 1)
        nth = 1;
    int64_t base = n / nth, rem = n % nth;
    *lo = ith * base + (ith < rem ? ith : rem);
    *hi = *lo + base + (ith < rem ? 1 : 0);
}

static void pin_self(int cpu) {
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    /* Failure (restricted container) only costs performance. */
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *worker_main(void *p) {
    lf_worker *w = p;
    lf_pool *pool = w->pool;
    pin_self(w->cpu);
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&pool->gen, memory_order_acquire);
        for (int k = 0; g == seen && k < pool->spin; k++) {
            spin_pause(k);
            g = atomic_load_explicit(&pool->gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&pool->mu);
            atomic_fetch_add(&pool->nsleep, 1);
            while ((g = atomic_load(&pool->gen)) == seen)
                pthread_cond_wait(&pool->cv_work, &pool->mu);
            atomic_fetch_sub(&pool->nsleep, 1);
            pthread_mutex_unlock(&pool->mu);
        }
        seen = g;
        if (atomic_load_explicit(&pool->stop, memory_order_acquire))
            break;
        pool->fn(pool->arg, w->ith, pool->n);
        if (atomic_fetch_sub(&pool->pending, 1) == 1 &&
            atomic_load(&pool->caller_sleeping)) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->cv_done);
            pthread_mutex_unlock(&pool->mu);
        }
    }
    return NULL;
}

/* The i-th CPU (wrapping) of the calling thread's affinity mask, or -1. */
static int nth_allowed_cpu(const cpu_set_t *mask, int i) {
    int count = CPU_COUNT(mask);
    if (count <= 0)
        return -1;
    i %= count;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, mask) && i-- == 0)
            return c;
    return -1;
}

lf_pool *lf_pool_create(int nthreads, bool pin) {
    if (nthreads < 1)
        return NULL;
    lf_pool *pool = aligned_alloc(64, (sizeof *pool + 63) / 64 * 64);
    if (!pool)
        return NULL;
    memset(pool, 0, sizeof *pool);
    pool->n = nthreads;
    atomic_init(&pool->gen, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->nsleep, 0);
    atomic_init(&pool->caller_sleeping, 0);
    atomic_init(&pool->stop, false);
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv_work, NULL);
    pthread_cond_init(&pool->cv_done, NULL);

    cpu_set_t mask;
    bool got_mask = pthread_getaffinity_np(pthread_self(), sizeof mask, &mask) == 0;
    bool have_mask = pin && got_mask;
    /* More threads than CPUs: a spinning thread would only hold the CPU
     * that the thread it waits for needs, so hand off by sleeping alone. */
    pool->spin = got_mask && nthreads > CPU_COUNT(&mask) ? 0 : LF_POOL_SPIN;
    /* The caller (thread 0) is left unpinned: with workers bound to CPUs
     * 1..n-1 of the mask the scheduler keeps it on the CPU left over. Were
     * it pinned, a second pool created while this one lives (the bench
     * interleaves thread counts) would read the narrowed mask and put all
     * its workers on the caller's one CPU. */
    if (nthreads > 1) {
        pool->workers = calloc((size_t)nthreads - 1, sizeof *pool->workers);
        if (!pool->workers) {
            pool->n = 1;
            lf_pool_free(pool);
            return NULL;
        }
    }
    for (int i = 1; i < nthreads; i++) {
        lf_worker *w = &pool->workers[i - 1];
        w->pool = pool;
        w->ith = i;
        w->cpu = have_mask ? nth_allowed_cpu(&mask, i) : -1;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            pool->n = i;   /* only threads 1..i-1 exist */
            lf_pool_free(pool);
            return NULL;
        }
    }
    return pool;
}

void lf_pool_free(lf_pool *pool) {
    if (!pool)
        return;
    atomic_store(&pool->stop, true);
    atomic_fetch_add(&pool->gen, 1);
    pthread_mutex_lock(&pool->mu);
    pthread_cond_broadcast(&pool->cv_work);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n; i++) {
        pthread_join(pool->workers[i - 1].thread, NULL);
        free(pool->workers[i - 1].scratch);
    }
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv_work);
    pthread_cond_destroy(&pool->cv_done);
    free(pool->workers);
    free(pool);
}

void *lf_pool_scratch(lf_pool *pool, int ith, size_t size) {
    if (!pool || ith <= 0 || ith >= pool->n)
        return NULL;
    lf_worker *w = &pool->workers[ith - 1];
    if (w->scratch_size < size) {
        size_t sz = (size + 63) / 64 * 64;
        void *p = aligned_alloc(64, sz);
        if (!p)
            return NULL;
        free(w->scratch);
        w->scratch = p;
        w->scratch_size = sz;
    }
    return w->scratch;
}

int lf_pool_size(const lf_pool *pool) { return pool ? pool->n : 1; }

void lf_pool_run(lf_pool *pool, lf_pool_fn fn, void *arg) {
    if (!pool || pool->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->pending, pool->n - 1, memory_order_relaxed);
    atomic_fetch_add(&pool->gen, 1);              /* publishes fn, arg */
    if (atomic_load(&pool->nsleep) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->cv_work);
        pthread_mutex_unlock(&pool->mu);
    }
    fn(arg, 0, pool->n);
    for (int k = 0; k < pool->spin; k++) {
        if (atomic_load_explicit(&pool->pending, memory_order_acquire) == 0)
            return;
        spin_pause(k);
    }
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->caller_sleeping, 1);
    while (atomic_load(&pool->pending) != 0)
        pthread_cond_wait(&pool->cv_done, &pool->mu);
    atomic_store(&pool->caller_sleeping, 0);
    pthread_mutex_unlock(&pool->mu);
}
