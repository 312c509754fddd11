/*
 * hwq_pool_c.h -- the table path's thread pool: persistent workers that claim work items of one GEMV at a
 * time (hwq_pool_run), so the caller waits only for items someone claimed.  Included by hwq_table_c.h after
 * hwq_run_ctx, hwq_run_part and hwq_claim's declaration; runs a hwq_run_ctx through hwq_run_part.
 */
#ifndef HWQ_POOL_C_H
#define HWQ_POOL_C_H

/* A GEMV is cut into items (tile x column-group chunk).  The caller publishes the job (generation gen)
 * and works on it at once; sleeping or spinning workers join when they run, each claiming one item at a
 * time from a 64-bit ticket (gen << 32 | next item), so a worker that the shared machine deschedules
 * takes nothing and its share goes to whoever is running.  The caller then waits only until every claimed
 * item (and the claimant's epilogue) is done, never for a worker that claimed nothing (OpenMP's
 * end-of-region barrier waited for every thread of the team to arrive).  A claim of an old generation
 * fails, so a late worker cannot touch a finished job.  One job at a time: a second caller meanwhile runs
 * its GEMV alone. */
#ifndef HWQ_POOL_MAX
#define HWQ_POOL_MAX 64
#endif
/* pause iterations a worker spins on the generation before it sleeps on the condition variable */
#ifndef HWQ_POOL_SPIN
#define HWQ_POOL_SPIN 20000
#endif
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int nworkers;
    int busy;             /* a caller owns the pool (atomic) */
    uint64_t gen;         /* generation of the current job (atomic) */
    uint64_t ticket;      /* (gen << 32) | next item (atomic) */
    int64_t nitems;       /* items of the current job */
    int nt;               /* participants of the current job: the caller and workers 0 .. nt - 2 */
    hwq_run_ctx *ctx;     /* the current job (read only after a successful claim) */
} hwq_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, NULL};

static inline void hwq_cpu_relax(void)
{
#if HWQ_X86
    _mm_pause();
#endif
}

/* Claims the next item of generation gen; -1 when that job has no items left or is over. */
static int64_t hwq_pool_claim(uint64_t gen)
{
    uint64_t t = __atomic_load_n(&hwq_pool.ticket, __ATOMIC_ACQUIRE);
    for (;;) {
        const int64_t n = __atomic_load_n(&hwq_pool.nitems, __ATOMIC_ACQUIRE);
        if (t >> 32 != (gen & 0xFFFFFFFFu) || (int64_t)(t & 0xFFFFFFFFu) >= n)
            return -1;
        if (__atomic_compare_exchange_n(&hwq_pool.ticket, &t, t + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return (int64_t)(t & 0xFFFFFFFFu);
    }
}

static int64_t hwq_claim(hwq_run_ctx *c)
{
    if (!c->gen)
        return c->next < c->nitems ? c->next++ : -1;
    return hwq_pool_claim(c->gen);
}

static void *hwq_worker(void *arg)
{
    const int w = (int)(intptr_t)arg;
    uint64_t seen = __atomic_load_n(&hwq_pool.gen, __ATOMIC_ACQUIRE);
    for (;;) {
        uint64_t g = __atomic_load_n(&hwq_pool.gen, __ATOMIC_ACQUIRE);
        for (int i = 0; g == seen && i < HWQ_POOL_SPIN; i++) {
            hwq_cpu_relax();
            g = __atomic_load_n(&hwq_pool.gen, __ATOMIC_ACQUIRE);
        }
        if (g == seen) {
            pthread_mutex_lock(&hwq_pool.mu);
            while ((g = __atomic_load_n(&hwq_pool.gen, __ATOMIC_ACQUIRE)) == seen)
                pthread_cond_wait(&hwq_pool.cv, &hwq_pool.mu);
            pthread_mutex_unlock(&hwq_pool.mu);
        }
        seen = g;
        if (w + 2 > __atomic_load_n(&hwq_pool.nt, __ATOMIC_ACQUIRE))
            continue; /* not needed for this job (or it is already over: the claim below would fail) */
        const int64_t it = hwq_pool_claim(g);
        if (it >= 0) /* the job of generation g is alive until this item is done */
            hwq_run_part(__atomic_load_n(&hwq_pool.ctx, __ATOMIC_ACQUIRE), w + 1, it);
    }
    return NULL;
}

/* Runs the job with up to nt participants (the caller and nt - 1 pool workers). */
static void hwq_pool_run(hwq_run_ctx *c, int nt)
{
    int expect = 0;
    if (nt < 2
        || !__atomic_compare_exchange_n(&hwq_pool.busy, &expect, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        c->gen = 0; /* alone: one thread, or another caller holds the pool */
        c->next = 1;
        if (c->nitems > 0)
            hwq_run_part(c, 0, 0);
        return;
    }
    pthread_mutex_lock(&hwq_pool.mu);
    while (hwq_pool.nworkers < nt - 1 && hwq_pool.nworkers < HWQ_POOL_MAX) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        const int e = pthread_create(&th, &at, hwq_worker, (void *)(intptr_t)hwq_pool.nworkers);
        pthread_attr_destroy(&at);
        if (e)
            break;
        hwq_pool.nworkers++;
    }
    const uint64_t gen = (hwq_pool.gen + 1) & 0xFFFFFFFFu ? hwq_pool.gen + 1 : hwq_pool.gen + 2; /* never 0 */
    c->gen = gen;
    __atomic_store_n(&hwq_pool.ctx, c, __ATOMIC_RELEASE);
    __atomic_store_n(&hwq_pool.nitems, c->nitems, __ATOMIC_RELEASE);
    __atomic_store_n(&hwq_pool.nt, nt < hwq_pool.nworkers + 1 ? nt : hwq_pool.nworkers + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&hwq_pool.ticket, (gen & 0xFFFFFFFFu) << 32, __ATOMIC_RELEASE);
    __atomic_store_n(&hwq_pool.gen, gen, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&hwq_pool.cv);
    pthread_mutex_unlock(&hwq_pool.mu);
    const int64_t it = hwq_pool_claim(gen);
    if (it >= 0)
        hwq_run_part(c, 0, it);
    /* wait for the items the workers claimed (none, if none of them ran) */
    for (int i = 0; __atomic_load_n(&c->done, __ATOMIC_ACQUIRE) < c->nitems; i++) {
        if (i < 4096)
            hwq_cpu_relax();
        else
            sched_yield(); /* the claimant may share this core */
    }
    __atomic_store_n(&hwq_pool.busy, 0, __ATOMIC_RELEASE);
}

#endif /* HWQ_POOL_C_H */
