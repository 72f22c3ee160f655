/* SPDX-License-Identifier: MIT */
/*
 * Conformance test of dhp, written from include/dhp.h and doc/model.md only:
 * N hot-adds (processors and memory) from 4 threads, random vetoes, churn of
 * synchronous and arrival registrations, a memory-condition follower and a
 * monitor, then removals of about a tenth of what came (vetoed by opted-in
 * registrations now and then), against the in-process sim and against `dhpd --platform sim`
 * (started here, on a socket in a temporary directory).  Every callback is
 * logged with a global sequence number; the log is then checked against the
 * numbered rules of doc/model.md, and a table "rule: checked N, violations V"
 * is printed.  Exit 1 on any violation.
 *
 * Environment:
 *   DHP_CONFORM_N       adds per target (default 1000)
 *   DHP_CONFORM_SEED    the seed (default 1; printed; replays a failure)
 *   DHP_CONFORM_TARGETS "sim", "dhpd" or "sim,dhpd" (default both)
 *   DHPD                the dhpd binary (the dhpd target is skipped without)
 *   DHP_CONFORM_DUMP    print the whole event log on stderr (to diagnose)
 *
 * The seed fixes every choice (which adds are processors, who vetoes which
 * processor, the churn's operations); the threads' interleaving is the
 * machine's, so a replay reruns the same workload, not the same schedule.
 *
 * Every wait is bounded (condition variables with deadlines, dhp_memcond_wait
 * with a timeout): nothing sleeps and hopes.
 */

#include <dhp.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 4
#define NPERSIST 3   /* persistent synchronous registrations, P0..P2 */
#define MAXREGS 4096
#define BLOCK (128ull << 20)
#define INIT_MEM (1ull << 30)
#define INIT_CPUS 1
/* One processor and memory device in this many is removed after the adds
 * (a removal through dhpd costs about a tenth of a second). */
#define REMOVE_ONE_IN 10

/* ---- rules ------------------------------------------------------------ */

enum {
        R1, R3S, R3O, R17_, R4, R5, R6, R7, R8, R9, R10, R11, R12, R13, R15, R16, R18, R19, R29, R32, R33, R34, R38, D1, D3, D4, D5, D7, D9,
        D10, D12, D15, D17, D24, D27, ERR, NRULES
};
static const char *rule_name[NRULES] = {
        [R1] = "R1  two calls per add",
        [R3S] = "R3  serial (never two callbacks at once)",
        [R3O] = "R3  in registration order",
        [R4] = "R4  first veto wins",
        [R5] = "R5  a veto does not stop the round",
        [R6] = "R6  admitted iff no veto (state after add)",
        [R7] = "R7  ADD_FAILURE to every ADD_START, first veto",
        [R8] = "R8  second phase to first phase's regs, same order",
        [R9] = "R9  ADD_EXISTING",
        [R10] = "R10 no sync call after deregistration",
        [R11] = "R11 arrival outside the transaction",
        [R12] = "R12 processor ARRIVAL after ADD_COMPLETE returned",
        [R13] = "R13 memory ARRIVAL names an added device",
        [R15] = "R15 once per registration (twice at most w/ existing)",
        [R16] = "R16 no arrival after unregistration",
        [R17_] = "R17 a set wakes every waiter (each handle)",
        [R18] = "R18 High and Low never both set",
        [R19] = "R19/R31 memory ARRIVAL before the condition it sets",
        [R29] = "R29/D6 transactions do not interleave",
        [R32] = "R32 removal states only to who opted in",
        [R33] = "R33/R35/R36 REMOVAL once, after it is gone",
        [R34] = "R34 query, veto, cancel",
        [R38] = "R38/D30 removed processor PRESENT",
        [D1] = "D1  vetoer gets ADD_FAILURE; no ARRIVAL (R30)",
        [D3] = "D3  veto outside ADD_START/REMOVE_QUERY, >= 0: -EINVAL",
        [D4] = "D4  own registration given; self-deregistration",
        [D5] = "D5  no second phase without ADD_START",
        [D7] = "D7  processor number = index/64, index%64",
        [D9] = "D9  existing only after ADD_COMPLETE ended",
        [D10] = "D10 ARRIVAL only to registrations older than it",
        [D12] = "D12 five events, other names -ENOENT",
        [D15] = "D15 unknown levels: clear",
        [D17] = "D17 descriptor readable while set",
        [D24] = "D24 monitor serialised, in seq order",
        [D27] = "D27 -EDEADLK inside synchronous callbacks",
        [ERR] = "API error contract (dhp.h)",
};
static atomic_long rule_checked[NRULES], rule_viol[NRULES];

#define CHECK(rule, cond, ...)                                                                                     \
        do {                                                                                                       \
                atomic_fetch_add(&rule_checked[rule], 1);                                                          \
                if (!(cond)) {                                                                                     \
                        if (atomic_fetch_add(&rule_viol[rule], 1) < 5) {                                           \
                                fprintf(stderr, "VIOLATION %s: ", rule_name[rule]);                                \
                                fprintf(stderr, __VA_ARGS__);                                                      \
                                fputc('\n', stderr);                                                               \
                        }                                                                                          \
                }                                                                                                  \
        } while (0)

/* ---- the log ---------------------------------------------------------- */

enum ev_kind {
        EV_SYNC_ENTER = 1, EV_SYNC_EXIT, EV_ARR, EV_REG_BEGIN, EV_REG_END, EV_DEREG_BEGIN, EV_DEREG_END,
        EV_CPU_ADD_BEGIN, EV_CPU_ADD_END, EV_MEM_ADD_BEGIN, EV_MEM_ADD_END, EV_ARR_EXIT, EV_CPU_RM_END, EV_MEM_RM_END,
};

struct ev {
        uint64_t seq;
        uint8_t kind, phase, existing, vetoed; /* vetoed: this call's veto returned 0 */
        int16_t reg;
        int32_t status;   /* SYNC_ENTER: status before; ADD_END/REG_END: the return */
        int32_t vetoret;  /* SYNC_ENTER: what dhp_proc_change_veto returned (1: not tried) */
        uint32_t cpu;
        uint64_t base, size;
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ev *evs;
static size_t nevs, evcap;
static uint64_t seq_next = 1;

static uint64_t log_ev(struct ev e) {
        pthread_mutex_lock(&log_lock);
        if (nevs == evcap) {
                evcap = evcap ? evcap * 2 : 65536;
                evs = realloc(evs, evcap * sizeof(*evs));
                if (!evs)
                        abort();
        }
        e.seq = seq_next++;
        evs[nevs++] = e;
        pthread_mutex_unlock(&log_lock);
        return e.seq;
}

/* ---- registrations ---------------------------------------------------- */

enum { K_SYNC = 1, K_ARR };
enum { SELF_NONE = 0, SELF_START, SELF_EXISTING, SELF_ARRIVAL };

struct reg {
        int id, kind, persistent;
        uint32_t flags;
        dhp_class cls;
        int veto_pct, veto_err, self_mode;
        atomic_int claimed;       /* whoever sets it deregisters */
        atomic_int self_done;
        atomic_int in_existing;   /* the register call is running */
        _Atomic(void *) handle;   /* known once register returned */
};

static struct reg regs[MAXREGS];
static atomic_int nregs;

/* ---- the run ---------------------------------------------------------- */

struct run {
        dhp *ctx;
        uint64_t seed;
        int n, ncpu_adds, maxcpus;
        atomic_int adds_done;
        atomic_int adders_running;
        atomic_ullong arrived_mem;  /* bytes of memory ARRIVAL seen by the persistent memory registration */
        atomic_int arrived_cpu;     /* non-existing processor arrivals to the persistent registration */
        atomic_int admitted;        /* dhp_sim_cpu_add() == 0 */
        atomic_int mem_added;
        atomic_int sync_active, mon_active;
        atomic_ullong mon_last;
        atomic_long deadlk_probe;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        uint64_t plan[NTHREADS];    /* per-thread rng seeds */
        int *plan_cpu[NTHREADS];    /* per-thread: 1 = processor add, 0 = memory */
        int plan_n[NTHREADS];
};
static struct run R;
static __thread int tl_adder, tl_in_sync;

static uint64_t splitmix(uint64_t *s) {
        uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c) {
        uint64_t s = a * 31 + b * 1000003 + c * 7919;
        return splitmix(&s);
}

static void notify_progress(void) {
        pthread_mutex_lock(&R.lock);
        pthread_cond_broadcast(&R.cond);
        pthread_mutex_unlock(&R.lock);
}

/* Wait until pred() or ms elapse; true when pred() held. */
static bool wait_until(bool (*pred)(void), int ms) {
        struct timespec ts;
        bool ok;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long)(ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&R.lock);
        while (!(ok = pred()))
                if (pthread_cond_timedwait(&R.cond, &R.lock, &ts) == ETIMEDOUT) {
                        ok = pred();
                        break;
                }
        pthread_mutex_unlock(&R.lock);
        return ok;
}

/* doc/model.md D27 (and dhp.h at dhp_open): every call that waits fails
 * with -EDEADLK inside a synchronous callback. */
static void probe_deadlk(void) {
        uint32_t u;
        dhp_proc_state st;
        dhp_proc_reg *pr = NULL;
        dhp_arrival_reg *ar = NULL;
        dhp_monitor *m = NULL;
        dhp_memcond *mc = NULL;
        uint64_t base;
        int r;

        CHECK(D27, (r = dhp_proc_count(R.ctx, &u)) == -EDEADLK, "dhp_proc_count: %d", r);
        CHECK(D27, (r = dhp_proc_get_state(R.ctx, 0, &st)) == -EDEADLK, "dhp_proc_get_state: %d", r);
        CHECK(D27, (r = dhp_proc_register(R.ctx, "x", 0, (dhp_proc_cb)abort, NULL, &pr)) == -EDEADLK,
              "dhp_proc_register: %d", r);
        if (r == 0)
                dhp_proc_deregister(pr);
        CHECK(D27, (r = dhp_arrival_register(R.ctx, "x", DHP_CLASS_MEMORY, 0, (dhp_arrival_cb)abort, NULL, &ar)) ==
                           -EDEADLK, "dhp_arrival_register: %d", r);
        if (r == 0)
                dhp_arrival_unregister(ar);
        CHECK(D27, (r = dhp_monitor_add(R.ctx, (dhp_monitor_cb)abort, NULL, &m)) == -EDEADLK, "dhp_monitor_add: %d",
              r);
        if (r == 0)
                dhp_monitor_remove(m);
        CHECK(D27, (r = dhp_memcond_open(R.ctx, "LowMemoryCondition", &mc)) == -EDEADLK, "dhp_memcond_open: %d", r);
        if (r == 0)
                dhp_memcond_close(mc);
        CHECK(D27, (r = dhp_sim_memory_add(R.ctx, 0, &base)) == -EDEADLK, "dhp_sim_memory_add: %d", r);
        CHECK(D27, (r = dhp_sim_cpu_add(R.ctx, &u)) == -EDEADLK, "dhp_sim_cpu_add: %d", r);
}

static void sync_cb(void *userdata, const dhp_proc_change *c) {
        struct reg *g = userdata;
        dhp_proc_change_state ph = dhp_proc_change_get_state(c);
        uint32_t cpu = dhp_proc_change_get_index(c);
        dhp_proc_number num = dhp_proc_change_get_number(c);
        dhp_proc_reg *self = dhp_proc_change_get_reg(c);
        void *h = atomic_load(&g->handle);
        struct ev e = { .kind = EV_SYNC_ENTER, .phase = ph, .reg = g->id, .cpu = cpu, .vetoret = 1 };
        int r;

        CHECK(R3S, atomic_fetch_add(&R.sync_active, 1) == 0, "two synchronous callbacks at once (cpu %u)", cpu);
        tl_in_sync = 1;
        CHECK(D7, num.group == cpu / 64 && num.number == cpu % 64, "cpu %u number %u:%u", cpu, num.group,
              num.number);
        CHECK(D4, self != NULL && (!h || h == (void *)self), "reg %d: get_reg %p, handle %p", g->id, (void *)self, h);
        if (atomic_load(&g->in_existing))
                e.existing = 1;
        CHECK(R32, ph <= DHP_PROC_ADD_FAILURE || (g->flags & DHP_PROC_QUERY_REMOVE),
              "reg %d without QUERY_REMOVE got state %d", g->id, ph);
        if (ph == DHP_PROC_REMOVE_QUERY && hash3(R.seed, g->id, cpu + 100000) % 100 < (uint64_t)g->veto_pct) {
                e.vetoret = dhp_proc_change_veto(c, g->veto_err);
                e.vetoed = e.vetoret == 0;
        }
        e.status = dhp_proc_change_get_status(c);
        if (ph == DHP_PROC_ADD_START) {
                if (hash3(R.seed, g->id, cpu) % 100 < (uint64_t)g->veto_pct) {
                        e.vetoret = dhp_proc_change_veto(c, g->veto_err);
                        e.vetoed = e.vetoret == 0;
                        /* D3: each callback reads the status after its own veto. */
                        r = dhp_proc_change_get_status(c);
                        CHECK(R4, r != 0 && (e.vetoret != 0 || r == g->veto_err), "status %d after veto %d (ret %d)",
                              r, g->veto_err, e.vetoret);
                }
                if (hash3(R.seed, cpu, 77) % 16 == 0)
                        CHECK(D3, (r = dhp_proc_change_veto(c, 5)) == -EINVAL, "veto(5) in ADD_START: %d", r);
        } else if (ph != DHP_PROC_REMOVE_QUERY && hash3(R.seed, cpu, g->id) % 8 == 0) {
                /* D3 (and R34: REMOVE_QUERY takes a veto too). */
                CHECK(D3, (r = dhp_proc_change_veto(c, -EIO)) == -EINVAL, "veto in phase %d: %d", ph, r);
        }
        if (atomic_fetch_add(&R.deadlk_probe, 1) % 64 == 0)
                probe_deadlk();
        log_ev(e);
        if (g->self_mode != SELF_NONE && !atomic_load(&g->self_done) &&
            ((g->self_mode == SELF_START && ph == DHP_PROC_ADD_START && !e.existing) ||
             (g->self_mode == SELF_EXISTING && e.existing)) &&
            atomic_exchange(&g->claimed, 1) == 0) {
                log_ev((struct ev){ .kind = EV_DEREG_BEGIN, .reg = g->id });
                dhp_proc_deregister(self);
                atomic_store(&g->self_done, 1);
                log_ev((struct ev){ .kind = EV_DEREG_END, .reg = g->id, .existing = 1 });
        }
        log_ev((struct ev){ .kind = EV_SYNC_EXIT, .phase = ph, .reg = g->id, .cpu = cpu });
        tl_in_sync = 0;
        atomic_fetch_sub(&R.sync_active, 1);
}

static atomic_int removed, removals_seen, qreg_id = -1, mqreg_id = -1;
static atomic_long lost_notifications;

static void arr_cb(void *userdata, const dhp_device_event *de) {
        struct reg *g = userdata;
        dhp_arrival_reg *self = dhp_device_event_get_reg(de);
        void *h = atomic_load(&g->handle);
        dhp_event ev = dhp_device_event_get_event(de);
        struct ev e = { .kind = EV_ARR, .phase = ev, .reg = g->id, .existing = dhp_device_event_is_existing(de) };
        const char *name = dhp_device_event_get_name(de);
        char want[64];

        CHECK(R11, !tl_adder && !tl_in_sync, "arrival delivered inside a transaction (reg %d)", g->id);
        /* R32: the query and the cancel only to the registrations that opted in. */
        CHECK(R32, ev == DHP_EVENT_ARRIVAL || ev == DHP_EVENT_REMOVAL || (g->flags & DHP_ARRIVAL_QUERY_REMOVE),
              "reg %d without QUERY_REMOVE got event %d", g->id, ev);
        CHECK(D4, self != NULL && (!h || h == (void *)self), "arrival reg %d: get_reg %p, handle %p", g->id,
              (void *)self, h);
        CHECK(ERR, dhp_device_event_get_class(de) == g->cls && ev >= DHP_EVENT_ARRIVAL && ev <= DHP_EVENT_REMOVE_CANCEL,
              "reg %d: class %d event %d", g->id, dhp_device_event_get_class(de), ev);
        if (g->cls == DHP_CLASS_PROCESSOR) {
                dhp_proc_number num;
                CHECK(ERR, dhp_device_event_get_processor(de, &e.cpu, &num) == 0 &&
                                   dhp_device_event_get_memory(de, &e.base, &e.size) == -EINVAL,
                      "processor event accessors");
                CHECK(D7, num.group == e.cpu / 64 && num.number == e.cpu % 64, "arrival cpu %u", e.cpu);
                snprintf(want, sizeof(want), "cpu%u", e.cpu);
        } else {
                CHECK(ERR, dhp_device_event_get_memory(de, &e.base, &e.size) == 0 &&
                                   dhp_device_event_get_processor(de, &e.cpu, NULL) == -EINVAL,
                      "memory event accessors");
                snprintf(want, sizeof(want), "memory@0x%" PRIx64, e.base);
        }
        CHECK(ERR, name && strcmp(name, want) == 0, "device name '%s', expected '%s'", name ? name : "(null)", want);
        if (ev == DHP_EVENT_QUERY_REMOVE && hash3(R.seed, g->id, e.base ^ 0x5151) % 100 < (uint64_t)g->veto_pct) {
                e.vetoret = dhp_device_event_veto(de, g->veto_err);
                e.vetoed = e.vetoret == 0;
        }
        log_ev(e);
        if (g->persistent && ev == DHP_EVENT_REMOVAL) {
                atomic_fetch_add(&removals_seen, 1);
                notify_progress();
        }
        if (g->persistent && !e.existing && ev == DHP_EVENT_ARRIVAL) {
                if (g->cls == DHP_CLASS_MEMORY)
                        atomic_fetch_add(&R.arrived_mem, e.size);
                else
                        atomic_fetch_add(&R.arrived_cpu, 1);
                notify_progress();
        }
        if (g->self_mode == SELF_ARRIVAL && atomic_exchange(&g->claimed, 1) == 0) {
                log_ev((struct ev){ .kind = EV_DEREG_BEGIN, .reg = g->id });
                dhp_arrival_unregister(self);
                atomic_store(&g->self_done, 1);
                log_ev((struct ev){ .kind = EV_DEREG_END, .reg = g->id, .existing = 1 });
        }
        log_ev((struct ev){ .kind = EV_ARR_EXIT, .reg = g->id });
}

static void mon_cb(void *userdata, const dhp_record *rec) {
        uint64_t s = dhp_record_get_seq(rec), last;
        char buf[256];

        (void)userdata;
        CHECK(D24, atomic_fetch_add(&R.mon_active, 1) == 0, "two monitor callbacks at once");
        if (strcmp(dhp_record_get_method(rec), "ipc") == 0 && strcmp(dhp_record_get_event(rec), "LOST") == 0) {
                /* D29: a slow reader of dhpd loses notifications (arrivals
                 * and records) with a count; the library's own record,
                 * outside the stream's numbering. */
                atomic_fetch_add(&lost_notifications, 1);
                notify_progress();
        } else {
                last = atomic_exchange(&R.mon_last, s);
                dhp_record_format(rec, DHP_RECORD_JSON, buf, sizeof(buf));
                CHECK(D24, s > last, "record seq %" PRIu64 " after %" PRIu64 ": %s", s, last, buf);
        }
        atomic_fetch_sub(&R.mon_active, 1);
}

static struct reg *reg_new(int kind) {
        int id = atomic_fetch_add(&nregs, 1);
        struct reg *g;

        if (id >= MAXREGS)
                abort();
        g = &regs[id];
        memset(g, 0, sizeof(*g));
        g->id = id;
        g->kind = kind;
        return g;
}

static int reg_sync(struct reg *g) {
        dhp_proc_reg *h = NULL;
        int r;

        log_ev((struct ev){ .kind = EV_REG_BEGIN, .reg = g->id });
        atomic_store(&g->in_existing, 1);
        r = dhp_proc_register(R.ctx, NULL, g->flags, sync_cb, g, &h);
        atomic_store(&g->in_existing, 0);
        log_ev((struct ev){ .kind = EV_REG_END, .reg = g->id, .status = r });
        if (r == 0)
                atomic_store(&g->handle, h);
        else
                atomic_store(&g->claimed, 1); /* nothing to deregister */
        return r;
}

static int reg_arr(struct reg *g) {
        dhp_arrival_reg *h = NULL;
        int r;

        log_ev((struct ev){ .kind = EV_REG_BEGIN, .reg = g->id });
        r = dhp_arrival_register(R.ctx, NULL, g->cls, g->flags, arr_cb, g, &h);
        log_ev((struct ev){ .kind = EV_REG_END, .reg = g->id, .status = r });
        CHECK(ERR, r == 0, "dhp_arrival_register: %d (%s)", r, dhp_strerror(r));
        if (r == 0)
                atomic_store(&g->handle, h);
        else
                atomic_store(&g->claimed, 1);
        return r;
}

static void dereg(struct reg *g) {
        if (atomic_exchange(&g->claimed, 1) != 0)
                return;
        log_ev((struct ev){ .kind = EV_DEREG_BEGIN, .reg = g->id });
        if (g->kind == K_SYNC)
                dhp_proc_deregister(atomic_load(&g->handle));
        else
                dhp_arrival_unregister(atomic_load(&g->handle));
        log_ev((struct ev){ .kind = EV_DEREG_END, .reg = g->id });
}

/* ---- the workload ----------------------------------------------------- */

static atomic_int follower_stop, mem_adds_started, follower_wakes;
static pthread_rwlock_t mem_gate = PTHREAD_RWLOCK_INITIALIZER;
static dhp_memcond *gate_hi, *gate_lo; /* the gated adds' handles */
static uint64_t initial_avail;
static atomic_long r19_checked, r19_bad;
static char r19_msg[160];
static atomic_int gate_gen; /* a gated add cleared the event */
static atomic_int stale_after_configure; /* is_set still true when configure returned */

static bool mem_arrived_pred(void) {
        return atomic_load(&lost_notifications) > 0 ||
               atomic_load(&R.arrived_mem) >= (uint64_t)atomic_load(&R.mem_added) * BLOCK;
}

static int wakes_target;
static bool wakes_pred(void) {
        return atomic_load(&follower_wakes) >= wakes_target || atomic_load(&follower_stop);
}

static long mono_ms(void) {
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool clear_within(dhp_memcond *ev, int ms) {
        struct timespec t0, t;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (dhp_memcond_is_set(ev)) {
                clock_gettime(CLOCK_MONOTONIC, &t);
                if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
                        return false;
                sched_yield();
        }
        return true;
}

/*
 * A gated memory add (every 16th), the memory-condition check of R19/R31:
 * with no other memory add in flight and every earlier one arrived, the
 * high threshold goes half a block above what is available, so that only
 * this add can set HighMemoryCondition; when it is seen set, this add's
 * ARRIVAL has been delivered already.  A set wakes the follower's handle
 * too (R17), and the event's descriptor is readable (D17).
 */
static void gated_memory_add(void) {
        uint64_t h, before, base, after;
        char spec[128], *err = NULL;
        int r;

        pthread_rwlock_wrlock(&mem_gate);
        if (!wait_until(mem_arrived_pred, 5000) || atomic_load(&lost_notifications))
                goto out;
        before = atomic_load(&R.arrived_mem);
        h = initial_avail + before + BLOCK / 2;
        snprintf(spec, sizeof(spec), "low=4M,high=%" PRIu64 ",margin=0", h);
        r = dhp_memcond_configure(R.ctx, spec, &err);
        CHECK(ERR, r == 0, "configure %s: %d %s", spec, r, err ? err : "");
        free(err);
        /* Through dhpd the new state comes as a message: bounded wait. */
        if (r == 0 && dhp_memcond_is_set(gate_hi))
                atomic_fetch_add(&stale_after_configure, 1);
        if (r < 0 || !clear_within(gate_hi, 2000))
                goto out;
        wakes_target = atomic_load(&follower_wakes) + 1;
        atomic_fetch_add(&gate_gen, 1);
        notify_progress();
        log_ev((struct ev){ .kind = EV_MEM_ADD_BEGIN });
        r = dhp_sim_memory_add(R.ctx, BLOCK, &base);
        log_ev((struct ev){ .kind = EV_MEM_ADD_END, .base = base, .size = BLOCK, .status = r });
        CHECK(ERR, r == 0, "dhp_sim_memory_add: %d", r);
        if (r < 0)
                goto out;
        atomic_fetch_add(&R.mem_added, 1);
        r = dhp_memcond_wait(gate_hi, 10000);
        after = atomic_load(&R.arrived_mem);
        CHECK(R19, r == 1, "HighMemoryCondition not set within 10 s of the add (D16): %d", r);
        if (r == 1) {
                /* Judged at the end: an arrival dhpd dropped (D29, LOST) never comes. */
                atomic_fetch_add(&r19_checked, 1);
                if (after < before + BLOCK && atomic_fetch_add(&r19_bad, 1) == 0)
                        snprintf(r19_msg, sizeof(r19_msg),
                                 "HighMemoryCondition set (high=%" PRIu64 ") before the ARRIVAL of memory@%#" PRIx64,
                                 h, base);
                CHECK(R18, !dhp_memcond_is_set(gate_lo), "High and Low set at once");
                struct pollfd p = { .fd = dhp_memcond_get_fd(gate_hi), .events = POLLIN };
                CHECK(D17, poll(&p, 1, 2000) == 1, "fd of a set event not readable");
                CHECK(R17_, wait_until(wakes_pred, 5000), "the follower's handle was not woken by the set");
        }
out:
        pthread_rwlock_unlock(&mem_gate);
}

static void *adder_run(void *arg) {
        int t = (int)(intptr_t)arg;

        tl_adder = 1;
        for (int i = 0; i < R.plan_n[t]; i++) {
                if (R.plan_cpu[t][i]) {
                        uint32_t idx = UINT32_MAX;
                        dhp_proc_state st = DHP_PROC_ABSENT;
                        int r;

                        log_ev((struct ev){ .kind = EV_CPU_ADD_BEGIN });
                        r = dhp_sim_cpu_add(R.ctx, &idx);
                        log_ev((struct ev){ .kind = EV_CPU_ADD_END, .cpu = idx, .status = r });
                        CHECK(ERR, r == 0 || r == 1, "dhp_sim_cpu_add: %d", r);
                        if (r == 0)
                                atomic_fetch_add(&R.admitted, 1);
                        /* R6, D1: admitted exactly when no veto; a vetoed one stays present. */
                        int q = r >= 0 ? dhp_proc_get_state(R.ctx, idx, &st) : -1;
                        if (r >= 0)
                                CHECK(ERR, q == 0, "dhp_proc_get_state(%u): %d (%s)", idx, q, dhp_strerror(q));
                        if (q == 0)
                                CHECK(R6, r == 0 ? st == DHP_PROC_ADMITTED : st != DHP_PROC_ADMITTED && st != DHP_PROC_ABSENT,
                                      "cpu %u: add returned %d, state %d", idx, r, st);
                } else {
                        uint64_t base = 0;
                        int r;

                        if (atomic_fetch_add(&mem_adds_started, 1) % 16 == 8) {
                                gated_memory_add();
                                goto next;
                        }
                        pthread_rwlock_rdlock(&mem_gate);
                        log_ev((struct ev){ .kind = EV_MEM_ADD_BEGIN });
                        r = dhp_sim_memory_add(R.ctx, BLOCK, &base);
                        log_ev((struct ev){ .kind = EV_MEM_ADD_END, .base = base, .size = BLOCK, .status = r });
                        CHECK(ERR, r == 0, "dhp_sim_memory_add: %d", r);
                        if (r == 0)
                                atomic_fetch_add(&R.mem_added, 1);
                        pthread_rwlock_unlock(&mem_gate);
                }
        next:
                atomic_fetch_add(&R.adds_done, 1);
                notify_progress();
        }
        atomic_fetch_sub(&R.adders_running, 1);
        notify_progress();
        return NULL;
}

static int churn_target;
static bool churn_pred(void) {
        return atomic_load(&R.adds_done) >= churn_target || atomic_load(&R.adders_running) == 0;
}

/* Registration churn while the adds run: synchronous registrations (some
 * with ADD_EXISTING, some vetoing, some deregistering themselves) and
 * arrival registrations (some with INCLUDE_EXISTING, some unregistering
 * themselves), paced by the adders' progress. */
static void *churn_run(void *arg) {
        uint64_t rng = R.seed ^ 0xc4u;
        struct reg *live[8] = { 0 };
        int nops = R.n / 8 + 8;

        (void)arg;
        for (int op = 0; op < nops; op++) {
                uint64_t x = splitmix(&rng);
                int slot = (int)(x % 8);
                struct reg *g;

                churn_target = (int)((int64_t)R.n * op / nops);
                wait_until(churn_pred, 30000);
                if (live[slot]) {
                        dereg(live[slot]);
                        live[slot] = NULL;
                        continue;
                }
                if ((x >> 8) % 2 == 0) {
                        g = reg_new(K_SYNC);
                        g->flags = (x >> 16) % 3 == 0 ? DHP_PROC_ADD_EXISTING : 0;
                        g->veto_pct = (x >> 20) % 4 == 0 ? 3 : 0;
                        g->veto_err = -(int)(40 + g->id % 40);
                        g->self_mode = (x >> 24) % 6 == 0 ? SELF_START : (x >> 24) % 6 == 1 ? SELF_EXISTING : SELF_NONE;
                        int r = reg_sync(g);
                        /* R9, D4: 0, the veto's error, or -ECANCELED after a self-deregistration. */
                        CHECK(R9, r == 0 || (r == -ECANCELED && g->self_mode == SELF_EXISTING) ||
                                          (r == g->veto_err && (g->flags & DHP_PROC_ADD_EXISTING)),
                              "dhp_proc_register (reg %d): %d", g->id, r);
                        if (r == 0)
                                live[slot] = g;
                } else {
                        g = reg_new(K_ARR);
                        g->cls = (x >> 16) % 2 ? DHP_CLASS_PROCESSOR : DHP_CLASS_MEMORY;
                        g->flags = (x >> 20) % 2 ? DHP_ARRIVAL_INCLUDE_EXISTING : 0;
                        g->self_mode = (x >> 24) % 5 == 0 ? SELF_ARRIVAL : SELF_NONE;
                        if (reg_arr(g) == 0)
                                live[slot] = g;
                }
        }
        for (int i = 0; i < 8; i++)
                if (live[i])
                        dereg(live[i]);
        return NULL;
}


/* The memory-condition follower: waits on its own HighMemoryCondition
 * handle and counts the wake-ups the gated adds expect (R17: a set wakes
 * every waiter). */
static int gen_seen;
static bool gen_pred(void) {
        return atomic_load(&gate_gen) != gen_seen || atomic_load(&follower_stop);
}

static void *follower_run(void *arg) {
        dhp_memcond *hi = NULL;
        int r;

        (void)arg;
        CHECK(ERR, (r = dhp_memcond_open(R.ctx, "HighMemoryCondition", &hi)) == 0, "memcond_open: %d", r);
        while (hi && !atomic_load(&follower_stop)) {
                if ((r = dhp_memcond_wait(hi, 100)) < 0)
                        break;
                if (r == 1) {
                        atomic_fetch_add(&follower_wakes, 1);
                        notify_progress();
                        /* Until the next gated add has cleared it again. */
                        gen_seen = atomic_load(&gate_gen);
                        wait_until(gen_pred, 30000);
                }
        }
        atomic_store(&follower_stop, 1);
        notify_progress();
        dhp_memcond_close(hi);
        return NULL;
}

/* ---- removals (doc/model.md "Removal") -------------------------------- */

/* After the adds: about a tenth of the admitted processors and of the
 * added memory devices removed from 2 threads, with an opted-in
 * synchronous registration and an opted-in memory registration vetoing
 * some; every arrival registration hears the REMOVALs. */
static bool removals_pred(void) {
        return atomic_load(&lost_notifications) > 0 || atomic_load(&removals_seen) >= atomic_load(&removed);
}

static void *remover_run(void *arg) {
        int t = (int)(intptr_t)arg;

        for (uint32_t cpu = INIT_CPUS + t; cpu < (uint32_t)R.maxcpus; cpu += 2) {
                dhp_proc_state st;
                int status = 0, r;

                if (hash3(R.seed, cpu, 0xdead) % REMOVE_ONE_IN || dhp_proc_get_state(R.ctx, cpu, &st) < 0 ||
                    st != DHP_PROC_ADMITTED)
                        continue;
                r = dhp_proc_remove(R.ctx, cpu, &status);
                log_ev((struct ev){ .kind = EV_CPU_RM_END, .cpu = cpu, .status = r, .vetoret = status });
                CHECK(ERR, r == 0 || r == 1, "dhp_proc_remove(%u): %d (%s)", cpu, r, dhp_strerror(r));
                if (r == 0)
                        atomic_fetch_add(&removed, 1);
                if (r >= 0 && dhp_proc_get_state(R.ctx, cpu, &st) == 0)
                        CHECK(R38, r == 0 ? st == DHP_PROC_PRESENT : st == DHP_PROC_ADMITTED,
                              "cpu %u: remove returned %d, state %d", cpu, r, st);
        }
        size_t n;

        pthread_mutex_lock(&log_lock);
        n = nevs; /* every add was logged before the removals began */
        pthread_mutex_unlock(&log_lock);
        for (size_t i = 0; i < n; i++) {
                struct ev e;
                char name[64];
                int status = 0, r;

                pthread_mutex_lock(&log_lock);
                e = evs[i];
                pthread_mutex_unlock(&log_lock);
                if (e.kind != EV_MEM_ADD_END || e.status != 0 || (e.base / BLOCK) % 2 != (uint64_t)t ||
                    hash3(R.seed, e.base, 0xbeef) % REMOVE_ONE_IN)
                        continue;
                snprintf(name, sizeof(name), "memory@0x%" PRIx64, e.base);
                r = dhp_memory_remove(R.ctx, name, &status);
                log_ev((struct ev){ .kind = EV_MEM_RM_END, .base = e.base, .size = e.size, .status = r, .vetoret = status });
                CHECK(ERR, r == 0 || r == 1, "dhp_memory_remove(%s): %d (%s)", name, r, dhp_strerror(r));
                if (r == 0)
                        atomic_fetch_add(&removed, 1);
        }
        return NULL;
}

/* R33-R36 from the log: the opted-in registrations' phases and every
 * REMOVAL, per removal. */
static void check_removals(int q, int mq, int parr, int pmem) {
        for (size_t i = 0; i < nevs; i++) {
                const struct ev *rm = &evs[i];
                bool cpu = rm->kind == EV_CPU_RM_END;
                int query = 0, complete = 0, cancel = 0, removal = 0, vetoed = 0;
                uint64_t complete_exit = 0, removal_seq = 0;

                if (!cpu && rm->kind != EV_MEM_RM_END)
                        continue;
                for (size_t j = 0; j < i; j++) {
                        const struct ev *e = &evs[j];
                        if (cpu && e->cpu == rm->cpu && e->reg == q && e->phase >= DHP_PROC_REMOVE_QUERY) {
                                if (e->kind == EV_SYNC_ENTER) {
                                        query += e->phase == DHP_PROC_REMOVE_QUERY;
                                        complete += e->phase == DHP_PROC_REMOVE_COMPLETE;
                                        cancel += e->phase == DHP_PROC_REMOVE_CANCEL;
                                        vetoed |= e->vetoed;
                                } else if (e->kind == EV_SYNC_EXIT && e->phase == DHP_PROC_REMOVE_COMPLETE) {
                                        complete_exit = e->seq;
                                }
                        }
                        if (!cpu && e->kind == EV_ARR && e->reg == mq && e->base == rm->base) {
                                query += e->phase == DHP_EVENT_QUERY_REMOVE;
                                cancel += e->phase == DHP_EVENT_REMOVE_CANCEL;
                                vetoed |= e->vetoed;
                        }
                }
                /* The REMOVAL is asynchronous: it may come after the call returned. */
                for (size_t j = 0; j < nevs; j++) {
                        const struct ev *e = &evs[j];
                        if (e->kind == EV_ARR && e->phase == DHP_EVENT_REMOVAL && e->reg == (cpu ? parr : pmem) &&
                            (cpu ? e->cpu == rm->cpu : e->base == rm->base)) {
                                removal++;
                                removal_seq = e->seq;
                        }
                }
                CHECK(R34, query == 1, "%s %#" PRIx64 ": %d queries", cpu ? "cpu" : "memory", cpu ? rm->cpu : rm->base,
                      query);
                CHECK(R34, rm->status == (vetoed ? 1 : rm->status) && (rm->status == 1) == (cancel == 1) &&
                                   cancel + complete <= 1 && (!vetoed || rm->vetoret == regs[cpu ? q : mq].veto_err),
                      "%s %#" PRIx64 ": returned %d (status %d), vetoed %d, cancel %d, complete %d",
                      cpu ? "cpu" : "memory", cpu ? rm->cpu : rm->base, rm->status, rm->vetoret, vetoed, cancel, complete);
                if (cpu)
                        CHECK(R34, (rm->status == 0) == (complete == 1), "cpu %u: returned %d, %d REMOVE_COMPLETE",
                              rm->cpu, rm->status, complete);
                if (atomic_load(&lost_notifications))
                        continue;
                CHECK(R33, removal == (rm->status == 0), "%s %#" PRIx64 ": returned %d, %d REMOVALs",
                      cpu ? "cpu" : "memory", cpu ? rm->cpu : rm->base, rm->status, removal);
                if (cpu && removal == 1)
                        CHECK(R33, removal_seq > complete_exit, "cpu %u: REMOVAL before REMOVE_COMPLETE returned", rm->cpu);
        }
}

/* ---- the checker ------------------------------------------------------ */

struct regi { uint64_t begin, end, dbegin, dend; int ret, ordinal, self; };
struct cpui {
        uint64_t p1_start;     /* P1's live ADD_START entry (P1 never vetoes, never goes) */
        uint64_t last_p2exit;  /* last exit of a live second phase */
        uint64_t add_end;      /* dhp_sim_cpu_add returned */
        int outcome;           /* dhp_sim_cpu_add's return, -1 unknown */
};

static struct regi *RI;
static struct cpui *CI;

static uint8_t *exmap; /* [reg * (maxcpus + 1) + cpu]: 1 when that pair's ADD_START was an existing call */

/* A call of an ADD_EXISTING run: its ADD_START comes after the processor's
 * live transaction has ended (P1, which takes part in every live add and
 * never vetoes, had its second phase), or is for an initial processor; a
 * live ADD_START of a later registration comes before P1's second phase
 * (R3, R6).  A second phase belongs where its ADD_START did (R1). */
static bool is_existing_call(const struct ev *e) {
        return exmap[(size_t)e->reg * (R.maxcpus + 1) + e->cpu];
}

static void classify_existing(int nr) {
        uint64_t *p1_p2exit = calloc(R.maxcpus + 1, sizeof(*p1_p2exit));

        exmap = calloc((size_t)nr * (R.maxcpus + 1), 1);
        for (size_t i = 0; i < nevs; i++)
                if (evs[i].kind == EV_SYNC_EXIT && evs[i].reg == 1 && evs[i].phase != DHP_PROC_ADD_START &&
                    evs[i].cpu <= (uint32_t)R.maxcpus)
                        p1_p2exit[evs[i].cpu] = evs[i].seq;
        for (size_t i = 0; i < nevs; i++) {
                const struct ev *e = &evs[i];
                if (e->kind != EV_SYNC_ENTER || e->phase != DHP_PROC_ADD_START || e->cpu > (uint32_t)R.maxcpus ||
                    !(regs[e->reg].flags & DHP_PROC_ADD_EXISTING))
                        continue;
                if (e->cpu < INIT_CPUS || (p1_p2exit[e->cpu] && e->seq > p1_p2exit[e->cpu]))
                        exmap[(size_t)e->reg * (R.maxcpus + 1) + e->cpu] = 1;
        }
        free(p1_p2exit);
}

/* One live transaction: the ADD_START and second-phase entries for one cpu. */
static void check_live_txn(uint32_t cpu, const struct ev **calls, int n) {
        int first_veto = 0, nstart = 0, np2 = 0;
        int start_reg[MAXREGS > 512 ? 512 : MAXREGS], p2_reg[512];
        int last_ord = -1, kind2 = 0;
        bool persist_seen[NPERSIST] = { 0 };

        for (int i = 0; i < n; i++) {
                const struct ev *e = calls[i];
                if (e->phase == DHP_PROC_ADD_START) {
                        CHECK(R29, np2 == 0, "cpu %u: ADD_START of reg %d after the second phase began", cpu, e->reg);
                        CHECK(R3O, RI[e->reg].ordinal > last_ord, "cpu %u: reg %d (ordinal %d) after ordinal %d", cpu,
                              e->reg, RI[e->reg].ordinal, last_ord);
                        last_ord = RI[e->reg].ordinal;
                        CHECK(R4, e->status == first_veto, "cpu %u reg %d: status before %d, first veto %d", cpu,
                              e->reg, e->status, first_veto);
                        if (e->vetoret != 1)
                                CHECK(R4, first_veto ? e->vetoret == -EALREADY : e->vetoret == 0,
                                      "cpu %u reg %d: veto returned %d with first veto %d", cpu, e->reg, e->vetoret,
                                      first_veto);
                        if (e->vetoed && !first_veto)
                                first_veto = regs[e->reg].veto_err;
                        if (e->reg < NPERSIST)
                                persist_seen[e->reg] = true;
                        if (nstart < 512)
                                start_reg[nstart++] = e->reg;
                } else {
                        CHECK(R1, kind2 == 0 || kind2 == e->phase, "cpu %u: both ADD_COMPLETE and ADD_FAILURE", cpu);
                        kind2 = e->phase;
                        CHECK(R7, e->phase == (first_veto ? DHP_PROC_ADD_FAILURE : DHP_PROC_ADD_COMPLETE),
                              "cpu %u reg %d: phase %d, first veto %d", cpu, e->reg, e->phase, first_veto);
                        if (e->phase == DHP_PROC_ADD_FAILURE)
                                CHECK(R7, e->status == first_veto, "cpu %u: ADD_FAILURE status %d, first veto %d",
                                      cpu, e->status, first_veto);
                        if (np2 < 512)
                                p2_reg[np2++] = e->reg;
                }
        }
        for (int p = 0; p < NPERSIST; p++)
                CHECK(R5, persist_seen[p], "cpu %u: persistent reg %d got no ADD_START", cpu, p);
        /* R8: the second phase goes to the ADD_START recipients, in order,
         * less those deregistered in between (D4). */
        int j = 0;
        for (int i = 0; i < nstart; i++) {
                int reg = start_reg[i];
                /* Deregistration began before the add returned (its last call may be
                 * the one skipped, after every other one's). */
                bool gone = RI[reg].dbegin != 0 && RI[reg].dbegin < CI[cpu].add_end;
                if (j < np2 && p2_reg[j] == reg) {
                        j++;
                        CHECK(R8, true, "-");
                        if (first_veto && regs[reg].veto_err == first_veto)
                                CHECK(D1, true, "-");
                } else {
                        CHECK(R8, gone, "cpu %u: reg %d got ADD_START, no second phase, not deregistered", cpu, reg);
                }
        }
        CHECK(R8, j == np2, "cpu %u: second phase to a registration out of order or without ADD_START", cpu);
        CHECK(D1, CI[cpu].outcome == (first_veto ? 1 : 0), "cpu %u: add returned %d, first veto %d", cpu,
              CI[cpu].outcome, first_veto);
}

/* R1, D5 per (registration, processor) pair; R9 per ADD_EXISTING run. */
static void check_sync_pairs(int nr) {
        for (int reg = 0; reg < nr; reg++) {
                if (regs[reg].kind != K_SYNC)
                        continue;
                int *st = calloc(R.maxcpus + 1, sizeof(int)); /* bit 1 START, 2 COMPLETE, 4 FAILURE */
                int ex_started = 0, ex_vetoed_cpu = -1, ex_phase2_seen = 0;
                for (size_t i = 0; i < nevs; i++) {
                        const struct ev *e = &evs[i];
                        if (e->kind != EV_SYNC_ENTER || e->reg != reg || e->phase > DHP_PROC_ADD_FAILURE)
                                continue;
                        int bit = e->phase == DHP_PROC_ADD_START ? 1 : e->phase == DHP_PROC_ADD_COMPLETE ? 2 : 4;
                        CHECK(R1, !(st[e->cpu] & bit) && !((st[e->cpu] & 6) && bit != 1) && !(bit == 1 && st[e->cpu]),
                              "reg %d cpu %u: phase %d after %#x", reg, e->cpu, e->phase, st[e->cpu]);
                        CHECK(D5, bit == 1 || (st[e->cpu] & 1), "reg %d cpu %u: second phase without ADD_START", reg,
                              e->cpu);
                        st[e->cpu] |= bit;
                        if (is_existing_call(e)) {
                                if (bit == 1) {
                                        CHECK(R9, !ex_phase2_seen && ex_vetoed_cpu < 0,
                                              "reg %d: existing ADD_START after the second phase or a veto", reg);
                                        ex_started++;
                                        if (e->vetoed)
                                                ex_vetoed_cpu = (int)e->cpu;
                                        /* D9-like: the processor was admitted (live ADD_COMPLETE ended). */
                                        CHECK(R9, e->cpu < INIT_CPUS || CI[e->cpu].outcome == 0,
                                              "reg %d: ADD_EXISTING call for cpu %u that was not admitted", reg, e->cpu);
                                } else {
                                        ex_phase2_seen = 1;
                                        CHECK(R9, e->phase == (ex_vetoed_cpu >= 0 ? DHP_PROC_ADD_FAILURE : DHP_PROC_ADD_COMPLETE) &&
                                                          (int)e->cpu != ex_vetoed_cpu,
                                              "reg %d: existing phase %d for cpu %u (vetoed on %d)", reg, e->phase,
                                              e->cpu, ex_vetoed_cpu);
                                }
                        }
                }
                for (int c = 0; c <= R.maxcpus; c++) {
                        if (st[c] != 1)
                                continue;
                        /* ADD_START only: deregistered meanwhile, or the vetoed k of R9, or an
                         * existing run cut by self-deregistration / veto. */
                        bool ok = (RI[reg].dbegin && (c >= R.maxcpus || !CI[c].last_p2exit ||
                                                      RI[reg].dbegin < CI[c].add_end || RI[reg].ret == -ECANCELED)) ||
                                  c == ex_vetoed_cpu || RI[reg].ret == -ECANCELED;
                        CHECK(R1, ok, "reg %d cpu %d: ADD_START without a second phase", reg, c);
                }
                if ((regs[reg].flags & DHP_PROC_ADD_EXISTING) && RI[reg].ret != -ECANCELED) {
                        /* R9: every processor admitted before the registration got ADD_START (up to a veto). */
                        int want = 0;
                        for (int c = 0; c < R.maxcpus; c++)
                                if (c < INIT_CPUS || (CI[c].outcome == 0 && CI[c].last_p2exit && CI[c].last_p2exit < RI[reg].begin))
                                        want += !(st[c] & 1);
                        CHECK(R9, ex_vetoed_cpu >= 0 || want == 0, "reg %d: %d admitted processors got no existing ADD_START",
                              reg, want);
                        CHECK(R9, (ex_vetoed_cpu >= 0) == (RI[reg].ret == regs[reg].veto_err && RI[reg].ret != 0),
                              "reg %d: returned %d, vetoed on %d", reg, RI[reg].ret, ex_vetoed_cpu);
                }
                free(st);
        }
}

/* Arrivals: R12, D1/R30, D9, D10, R13, R15. */
static void check_arrivals(int nr) {
        size_t cap = (size_t)R.maxcpus + 1;
        for (int reg = 0; reg < nr; reg++) {
                if (regs[reg].kind != K_ARR)
                        continue;
                uint8_t *seen_ex = calloc(cap + 8192, 1), *seen_new = calloc(cap + 8192, 1);
                for (size_t i = 0; i < nevs; i++) {
                        const struct ev *e = &evs[i];
                        if (e->kind != EV_ARR || e->reg != reg || e->phase != DHP_EVENT_ARRIVAL)
                                continue;
                        size_t key;
                        if (regs[reg].cls == DHP_CLASS_PROCESSOR) {
                                key = e->cpu;
                                if (key >= cap) {
                                        CHECK(ERR, false, "arrival of cpu %u past the slots", e->cpu);
                                        continue;
                                }
                                if (e->cpu >= INIT_CPUS) {
                                        CHECK(D1, CI[e->cpu].outcome != 1, "ARRIVAL of vetoed cpu %u", e->cpu);
                                        CHECK(R12, CI[e->cpu].last_p2exit && CI[e->cpu].last_p2exit < e->seq,
                                              "cpu %u ARRIVAL (seq %" PRIu64 ") before its ADD_COMPLETE returned (%" PRIu64 ")",
                                              e->cpu, e->seq, CI[e->cpu].last_p2exit);
                                        if (e->existing)
                                                CHECK(D9, CI[e->cpu].last_p2exit < RI[reg].end,
                                                      "cpu %u existing for reg %d before its ADD_COMPLETE ended", e->cpu, reg);
                                        else
                                                CHECK(D10, RI[reg].begin < CI[e->cpu].add_end,
                                                      "cpu %u ARRIVAL to reg %d made after the add", e->cpu, reg);
                                } else {
                                        CHECK(D9, e->existing, "initial cpu %u reported as new", e->cpu);
                                }
                        } else {
                                if (e->base < INIT_MEM) {
                                        CHECK(D9, e->existing, "initial memory reported as new");
                                        continue;
                                }
                                key = (e->base - INIT_MEM) / BLOCK;
                                CHECK(R13, e->size == BLOCK && (e->base - INIT_MEM) % BLOCK == 0 && key < cap + 8192,
                                      "memory arrival base %#" PRIx64 " size %" PRIu64, e->base, e->size);
                                if (key >= cap + 8192)
                                        continue;
                        }
                        CHECK(R15, !(e->existing ? seen_ex : seen_new)[key],
                              "reg %d: device %zu reported twice as %s", reg, key, e->existing ? "existing" : "new");
                        (e->existing ? seen_ex : seen_new)[key] = 1;
                        if (e->existing)
                                CHECK(R15, regs[reg].flags & DHP_ARRIVAL_INCLUDE_EXISTING,
                                      "reg %d: existing device without INCLUDE_EXISTING", reg);
                }
                if (regs[reg].persistent && !atomic_load(&lost_notifications)) {
                        /* Each admitted processor / added memory device arrives once. */
                        int missing = 0;
                        if (regs[reg].cls == DHP_CLASS_PROCESSOR) {
                                for (int c = INIT_CPUS; c < R.maxcpus; c++)
                                        if (CI[c].outcome == 0)
                                                missing += !seen_new[c];
                        } else {
                                for (int k = 0; k < atomic_load(&R.mem_added); k++)
                                        missing += !seen_new[k];
                        }
                        CHECK(R15, missing == 0, "persistent reg %d: %d devices never arrived", reg, missing);
                }
                free(seen_ex);
                free(seen_new);
        }
}

static void analyse(void) {
        int nr = atomic_load(&nregs);
        RI = calloc(MAXREGS, sizeof(*RI));
        CI = calloc(R.maxcpus + 1, sizeof(*CI));
        int ordinal = 0;

        for (int c = 0; c <= R.maxcpus; c++)
                CI[c].outcome = -1;
        /* Pass 1: registration windows, cpu milestones. */
        for (size_t i = 0; i < nevs; i++) {
                const struct ev *e = &evs[i];
                switch (e->kind) {
                case EV_REG_BEGIN: RI[e->reg].begin = e->seq; RI[e->reg].ordinal = ordinal++; break;
                case EV_REG_END: RI[e->reg].end = e->seq; RI[e->reg].ret = e->status; break;
                case EV_DEREG_BEGIN: RI[e->reg].dbegin = e->seq; break;
                case EV_DEREG_END: RI[e->reg].dend = e->seq; RI[e->reg].self = e->existing; break;
                case EV_CPU_ADD_END:
                        if (e->cpu <= (uint32_t)R.maxcpus) {
                                CI[e->cpu].add_end = e->seq;
                                CI[e->cpu].outcome = e->status;
                        }
                        break;
                case EV_SYNC_ENTER:
                        if (e->reg == 1 && e->phase == DHP_PROC_ADD_START)
                                CI[e->cpu].p1_start = e->seq;
                        break;
                }
        }
        classify_existing(nr);
        /* Pass 2: live second-phase exits; R10/R16 (nothing after deregistration). */
        for (size_t i = 0; i < nevs; i++) {
                const struct ev *e = &evs[i];
                if (e->kind == EV_SYNC_EXIT && e->phase != DHP_PROC_ADD_START && e->phase <= DHP_PROC_ADD_FAILURE && e->cpu <= (uint32_t)R.maxcpus) {
                        struct ev tmp = *e;
                        if (!is_existing_call(&tmp))
                                CI[e->cpu].last_p2exit = e->seq;
                }
                if (e->kind == EV_SYNC_ENTER)
                        CHECK(R10, !RI[e->reg].dend || e->seq < RI[e->reg].dend,
                              "reg %d called (cpu %u phase %d) after its deregistration returned", e->reg, e->cpu,
                              e->phase);
                /* D4 (dhp.h at dhp_proc_deregister, dhp_arrival_unregister):
                 * deregistration waits for a call in progress on another thread. */
                if ((e->kind == EV_SYNC_EXIT || e->kind == EV_ARR_EXIT) && RI[e->reg].dend && !RI[e->reg].self)
                        CHECK(D4, e->seq < RI[e->reg].dend,
                              "reg %d: deregistration returned (seq %" PRIu64 ") while its callback ran (returned at %" PRIu64 ")",
                              e->reg, RI[e->reg].dend, e->seq);
                if (e->kind == EV_ARR)
                        CHECK(R16, !RI[e->reg].dend || e->seq < RI[e->reg].dend,
                              "arrival reg %d got an event after unregistration returned", e->reg);
        }
        /* Pass 3: the synchronous calls by transaction. */
        const struct ev **calls = malloc(nevs * sizeof(*calls));
        int ncalls = 0;
        uint32_t cur_cpu = UINT32_MAX;
        int cur_ex = -1;
        bool *txn_done_live = calloc(R.maxcpus + 1, 1);
        bool *txn_done_ex = calloc(MAXREGS, 1);
        for (size_t i = 0; i <= nevs; i++) {
                const struct ev *e = i < nevs ? &evs[i] : NULL;
                if (e && (e->kind != EV_SYNC_ENTER || e->phase > DHP_PROC_ADD_FAILURE))
                        continue;
                bool ex = e && is_existing_call(e);
                if (!e || (ex ? cur_ex != e->reg : (cur_ex != -1 || e->cpu != cur_cpu))) {
                        /* The transaction in progress ends (D6, R29: never resumes). */
                        if (ncalls && cur_ex == -1) {
                                check_live_txn(cur_cpu, calls, ncalls);
                                txn_done_live[cur_cpu] = true;
                        } else if (ncalls) {
                                txn_done_ex[cur_ex] = true;
                        }
                        ncalls = 0;
                        if (e) {
                                CHECK(R29, ex ? !txn_done_ex[e->reg] : !txn_done_live[e->cpu],
                                      "transaction of %s %u resumed after another one", ex ? "reg" : "cpu",
                                      ex ? (unsigned)e->reg : e->cpu);
                                cur_ex = ex ? e->reg : -1;
                                cur_cpu = e->cpu;
                        }
                }
                if (e && !ex)
                        calls[ncalls++] = e;
        }
        check_sync_pairs(nr);
        check_arrivals(nr);
        check_removals(atomic_load(&qreg_id), atomic_load(&mqreg_id), NPERSIST, NPERSIST + 1);
        /* D4: the self-deregistrations happened. */
        for (int reg = 0; reg < nr; reg++)
                if (atomic_load(&regs[reg].self_done))
                        CHECK(D4, RI[reg].dend != 0, "reg %d: self-deregistration not logged", reg);
        free(calls);
        free(txn_done_live);
        free(txn_done_ex);
        free(RI);
        free(CI);
        free(exmap);
}

/* ---- targets ---------------------------------------------------------- */

static char tmpdir[64];
static pid_t dhpd_pid = -1;

/* dhpd --platform sim on a socket in a temporary directory (never the
 * host's); READY on stdout within 10 s. */
static int dhpd_start(const char *dhpd, const char *simopts, char *target, size_t tsize) {
        char conf[128], sock[128], line[16];
        int out[2];
        size_t n = 0;
        FILE *f;

        strcpy(tmpdir, "/tmp/dhp-conform-XXXXXX");
        if (!mkdtemp(tmpdir))
                return -errno;
        snprintf(conf, sizeof(conf), "%s/dhpd.conf", tmpdir);
        snprintf(sock, sizeof(sock), "%s/dhpd.sock", tmpdir);
        f = fopen(conf, "w");
        if (!f)
                return -errno;
        /* The deadline only matters if this process stalls (sanitizers). */
        fprintf(f, "[daemon]\nlog_level = warning\n[sync]\ndeadline = 30s\n");
        fclose(f);
        if (pipe2(out, O_CLOEXEC) < 0)
                return -errno;
        dhpd_pid = fork();
        if (dhpd_pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlives the test */
                dup2(out[1], 1);
                execl(dhpd, dhpd, "--platform", "sim", "--sim", simopts, "--foreground", "--socket", sock, "-c", conf, (char *)NULL);
                _exit(127);
        }
        close(out[1]);
        while (n < sizeof(line) - 1) {
                struct pollfd p = { .fd = out[0], .events = POLLIN };
                if (poll(&p, 1, 10000) != 1 || read(out[0], line + n, 1) != 1)
                        break;
                if (line[n++] == '\n')
                        break;
        }
        line[n] = 0;
        close(out[0]);
        if (strcmp(line, "READY\n") != 0)
                return -EIO;
        snprintf(target, tsize, "unix:%s", sock);
        return 0;
}

static void dhpd_stop(void) {
        char cmd[128];

        if (dhpd_pid > 0) {
                kill(dhpd_pid, SIGTERM);
                waitpid(dhpd_pid, NULL, 0);
                dhpd_pid = -1;
        }
        if (tmpdir[0]) {
                snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", tmpdir);
                tmpdir[0] = 0;
        }
}

static bool drained_pred(void) {
        return atomic_load(&lost_notifications) > 0 || (atomic_load(&R.arrived_cpu) >= atomic_load(&R.admitted) &&
               atomic_load(&R.arrived_mem) >= (uint64_t)atomic_load(&R.mem_added) * BLOCK);
}

static int run_target(const char *kind, uint64_t seed, int n) {
        char simopts[128], target[192];
        pthread_t th[NTHREADS], churn, follower;
        dhp_monitor *mon = NULL;
        struct reg *p;
        int r;

        memset(&R, 0, sizeof(R));
        memset(rule_checked, 0, sizeof(rule_checked));
        memset(rule_viol, 0, sizeof(rule_viol));
        atomic_store(&nregs, 0);
        nevs = 0;
        seq_next = 1;
        atomic_store(&follower_stop, 0);

        atomic_store(&mem_adds_started, 0);
        atomic_store(&follower_wakes, 0);
        atomic_store(&gate_gen, 0);
        atomic_store(&stale_after_configure, 0);
        atomic_store(&removed, 0);
        atomic_store(&removals_seen, 0);
        atomic_store(&lost_notifications, 0);
        atomic_store(&r19_checked, 0);
        atomic_store(&r19_bad, 0);

        pthread_mutex_init(&R.lock, NULL);
        {
                pthread_condattr_t ca;
                pthread_condattr_init(&ca);
                pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
                pthread_cond_init(&R.cond, &ca);
                pthread_condattr_destroy(&ca);
        }
        R.seed = seed;
        R.n = n;
        /* The plan: each thread's adds, processor or memory, from the seed. */
        for (int t = 0; t < NTHREADS; t++) {
                uint64_t s = seed * 1000 + (uint64_t)t;
                R.plan_n[t] = n / NTHREADS + (t < n % NTHREADS);
                R.plan_cpu[t] = calloc(R.plan_n[t] + 1, sizeof(int));
                for (int i = 0; i < R.plan_n[t]; i++)
                        R.ncpu_adds += R.plan_cpu[t][i] = splitmix(&s) % 2;
        }
        R.maxcpus = INIT_CPUS + R.ncpu_adds;
        snprintf(simopts, sizeof(simopts), "cpus=%d,maxcpus=%d,memory=1G,block=128M,maxmem=%lluG", INIT_CPUS, R.maxcpus,
                 1 + (unsigned long long)n / 8 + 1);
        initial_avail = INIT_MEM / 4 * 3; /* dhp.h: the sim opens with 3/4 available */
        if (strcmp(kind, "sim") == 0) {
                snprintf(target, sizeof(target), "sim:%s", simopts);
        } else {
                const char *dhpd = getenv("DHPD");
                if (!dhpd) {
                        printf("dhpd target skipped: DHPD not set\n");
                        return 0;
                }
                if ((r = dhpd_start(dhpd, simopts, target, sizeof(target))) < 0) {
                        fprintf(stderr, "dhpd did not start: %d\n", r);
                        dhpd_stop();
                        return 1;
                }
        }
        printf("== target %s (%s), seed %" PRIu64 " (DHP_CONFORM_SEED=%" PRIu64 " replays), N=%d: %d processor adds\n",
               kind, target, seed, seed, n, R.ncpu_adds);
        fflush(stdout);
        long t_start = mono_ms();
        if ((r = dhp_open(&R.ctx, target)) < 0) {
                fprintf(stderr, "dhp_open(%s): %s\n", target, dhp_strerror(r));
                dhpd_stop();
                return 1;
        }
        /* The error contract outside callbacks (dhp.h). */
        {
                dhp_proc_state st;
                dhp_memcond *mc;
                dhp_arrival_reg *ar;
                CHECK(ERR, (r = dhp_proc_get_state(R.ctx, R.maxcpus, &st)) == -ERANGE, "get_state past end: %d", r);
                CHECK(D12, (r = dhp_memcond_open(R.ctx, "highMemoryCondition", &mc)) == -ENOENT, "memcond name: %d", r);
                /* D12: the five events; D15: no commit figures at open, so
                 * the commit events are clear (dhp.h, the sim's levels). */
                static const char *const five[] = { "HighMemoryCondition", "LowMemoryCondition", "LowCommitCondition",
                                                    "HighCommitCondition", "MaximumCommitCondition" };
                for (int i = 0; i < 5; i++) {
                        CHECK(D12, (r = dhp_memcond_open(R.ctx, five[i], &mc)) == 0, "open %s: %d", five[i], r);
                        if (r == 0 && i >= 2)
                                CHECK(D15, !dhp_memcond_is_set(mc), "%s set without commit figures", five[i]);
                        if (r == 0)
                                CHECK(D12, strcmp(dhp_memcond_get_name(mc), five[i]) == 0, "name %s",
                                      dhp_memcond_get_name(mc));
                        dhp_memcond_close(mc);
                }
                CHECK(ERR, (r = dhp_arrival_register(R.ctx, NULL, 7, 0, arr_cb, NULL, &ar)) == -EINVAL, "class 7: %d", r);
                CHECK(ERR, (r = dhp_sim_memory_add(R.ctx, BLOCK + 1, NULL)) == -EINVAL, "odd size: %d", r);
                CHECK(ERR, (r = dhp_start_thread(R.ctx)) == 0, "start_thread: %d", r);
                CHECK(ERR, (r = dhp_start_thread(R.ctx)) == -EALREADY, "start_thread again: %d", r);
                CHECK(ERR, (r = dhp_process(R.ctx)) == -EBUSY, "dhp_process with a thread: %d", r);
        }
        CHECK(ERR, (r = dhp_monitor_add(R.ctx, mon_cb, NULL, &mon)) == 0, "monitor_add: %d", r);
        /* Persistent registrations, before any add: P0..P2 synchronous (P1
         * never vetoes; its calls mark each live transaction), one arrival
         * registration per class with INCLUDE_EXISTING. */
        for (int i = 0; i < NPERSIST; i++) {
                p = reg_new(K_SYNC);
                p->persistent = 1;
                p->veto_pct = i == 1 ? 0 : 6;
                p->veto_err = i == 0 ? -EBUSY : -EIO;
                CHECK(ERR, reg_sync(p) == 0, "persistent registration");
        }
        for (int i = 0; i < 2; i++) {
                p = reg_new(K_ARR);
                p->persistent = 1;
                p->cls = i ? DHP_CLASS_MEMORY : DHP_CLASS_PROCESSOR;
                p->flags = DHP_ARRIVAL_INCLUDE_EXISTING;
                reg_arr(p);
        }
        atomic_store(&R.adders_running, NTHREADS);
        CHECK(ERR, (r = dhp_memcond_open(R.ctx, "HighMemoryCondition", &gate_hi)) == 0, "memcond_open: %d", r);
        CHECK(ERR, (r = dhp_memcond_open(R.ctx, "LowMemoryCondition", &gate_lo)) == 0, "memcond_open: %d", r);
        pthread_create(&follower, NULL, follower_run, NULL);
        pthread_create(&churn, NULL, churn_run, NULL);
        for (int t = 0; t < NTHREADS; t++)
                pthread_create(&th[t], NULL, adder_run, (void *)(intptr_t)t);
        for (int t = 0; t < NTHREADS; t++)
                pthread_join(th[t], NULL);
        pthread_join(churn, NULL);
        /* Every arrival delivered, bounded. */
        CHECK(R15, wait_until(drained_pred, 20000), "arrivals not all delivered within 20 s: cpu %d/%d, memory %llu/%d",
              atomic_load(&R.arrived_cpu), atomic_load(&R.admitted),
              (unsigned long long)(atomic_load(&R.arrived_mem) / BLOCK), atomic_load(&R.mem_added));
        atomic_store(&follower_stop, 1);
        notify_progress();
        pthread_join(follower, NULL);
        dhp_memcond_close(gate_hi);
        dhp_memcond_close(gate_lo);
        long t_adds = mono_ms();
        /* Removals: an opted-in synchronous and memory registration each. */
        {
                pthread_t rm[2];
                struct reg *q = reg_new(K_SYNC), *mq = reg_new(K_ARR);
                q->flags = DHP_PROC_QUERY_REMOVE;
                q->veto_pct = 25;
                q->veto_err = -EBUSY;
                mq->cls = DHP_CLASS_MEMORY;
                mq->flags = DHP_ARRIVAL_QUERY_REMOVE;
                mq->veto_pct = 25;
                mq->veto_err = -EADDRINUSE;
                CHECK(ERR, reg_sync(q) == 0, "QUERY_REMOVE registration");
                reg_arr(mq);
                atomic_store(&qreg_id, q->id);
                atomic_store(&mqreg_id, mq->id);
                for (int t = 0; t < 2; t++)
                        pthread_create(&rm[t], NULL, remover_run, (void *)(intptr_t)t);
                for (int t = 0; t < 2; t++)
                        pthread_join(rm[t], NULL);
                CHECK(R33, wait_until(removals_pred, 20000), "REMOVALs not all delivered within 20 s: %d/%d",
                      atomic_load(&removals_seen), atomic_load(&removed));
                dereg(q);
                dereg(mq);
        }
        long t_rm = mono_ms();
        {
                uint32_t idx;
                CHECK(ERR, (r = dhp_sim_cpu_add(R.ctx, &idx)) == -ENOSPC, "cpu add with every slot used: %d", r);
        }
        for (int i = 0; i < atomic_load(&nregs); i++)
                if (regs[i].persistent)
                        dereg(&regs[i]);
        dhp_monitor_remove(mon);
        dhp_close(R.ctx);
        dhpd_stop();
        printf("times: adds %ld ms, removals %ld ms, close %ld ms\n", t_adds - t_start, t_rm - t_adds, mono_ms() - t_rm);
        if (getenv("DHP_CONFORM_DUMP"))
                for (size_t i = 0; i < nevs; i++)
                        fprintf(stderr, "%" PRIu64 " k%d ph%d ex%d reg%d cpu%u st%d vr%d vetoed%d base%#" PRIx64 "\n",
                                evs[i].seq, evs[i].kind, evs[i].phase, evs[i].existing, evs[i].reg, evs[i].cpu,
                                evs[i].status, evs[i].vetoret, evs[i].vetoed, evs[i].base);
        analyse();
        if (atomic_load(&lost_notifications) && atomic_load(&r19_bad))
                printf("note: R19 not judged: %ld sets with a memory arrival missing, after notifications were lost (D29)\n",
                       atomic_load(&r19_bad));
        else if (atomic_load(&r19_bad))
                CHECK(R19, false, "%s (%ld times)", r19_msg, atomic_load(&r19_bad));
        rule_checked[R19] += atomic_load(&r19_checked) - (long)(atomic_load(&r19_bad) && !atomic_load(&lost_notifications));

        long viol = 0;
        printf("%-56s %10s %10s\n", "rule (doc/model.md)", "checked", "violations");
        for (int i = 0; i < NRULES; i++) {
                printf("%-56s %10ld %10ld\n", rule_name[i], atomic_load(&rule_checked[i]), atomic_load(&rule_viol[i]));
                viol += atomic_load(&rule_viol[i]);
        }
        if (atomic_load(&stale_after_configure))
                printf("note: %d times HighMemoryCondition still read set when dhp_memcond_configure() returned\n",
                       atomic_load(&stale_after_configure));
        if (atomic_load(&lost_notifications))
                printf("note: dhpd dropped notifications for this slow reader (doc/model.md D29, %ld LOST records): "
                       "every device arriving was not checked\n", atomic_load(&lost_notifications));
        printf("target %s: %zu callbacks and events logged, %d registrations, %ld violations%s\n", kind, nevs,
               atomic_load(&nregs), viol, viol ? " -- replay with DHP_CONFORM_SEED" : "");
        for (int t = 0; t < NTHREADS; t++)
                free(R.plan_cpu[t]);
        return viol ? 1 : 0;
}

int main(void) {
        const char *s = getenv("DHP_CONFORM_SEED"), *ns = getenv("DHP_CONFORM_N"),
                   *targets = getenv("DHP_CONFORM_TARGETS");
        uint64_t seed = s ? strtoull(s, NULL, 0) : 1;
        int n = ns ? atoi(ns) : 1000, fail = 0;

        if (n < 8)
                n = 8;
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (!targets)
                targets = "sim,dhpd";
        if (strstr(targets, "sim") && strncmp(targets, "dhpd", 4) != 0)
                fail |= run_target("sim", seed, n);
        if (strstr(targets, "dhpd"))
                fail |= run_target("dhpd", seed, n);
        free(evs);
        return fail;
}
