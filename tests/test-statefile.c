/* SPDX-License-Identifier: MIT */
/* dhpd's state file (daemon/statefile.c) on the sim platform: the first
 * version, one version per change and none without, every change numbered
 * while changes race on two threads, the file whole at the end. */
#include <errno.h>
#include <unistd.h>

#include "core/memcond.h"
#include "daemon/statefile.h"
#include "helpers.h"
#include "platform/sim/sim.h"
#include "util/time.h"

#define MIB (1ULL << 20)

struct fixture {
        char dir[64], path[96];
        struct sim *sim;
        struct engine *e;
        struct statefile *sf;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        struct sim_config sc = SIM_CONFIG_DEFAULT;

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/dhp-statefile-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/state", f->dir);
        sc.maxcpus = 64;
        assert_int_equal(sim_new(&f->sim, &sc), 0);
        f->e = sim_engine(f->sim);
        assert_int_equal(statefile_new(&f->sf, f->e, f->dir, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        char p[128];

        statefile_free(f->sf);
        sim_free(f->sim);
        unlink(f->path);
        snprintf(p, sizeof(p), "%s/" STATEFILE_TMP_NAME, f->dir);
        unlink(p);
        rmdir(f->dir);
        free(f);
        return 0;
}

static void read_state(struct fixture *f, char *buf, size_t size) {
        FILE *fp = fopen(f->path, "re");
        size_t n;

        assert_non_null(fp);
        n = fread(buf, 1, size - 1, fp);
        buf[n] = 0;
        fclose(fp);
}

/* The value of key in the file, into out. */
static void get(struct fixture *f, const char *key, char *out, size_t size) {
        char buf[1024], pat[64];
        const char *p;

        read_state(f, buf, sizeof(buf));
        snprintf(pat, sizeof(pat), "\n%s=", key);
        p = strstr(buf, pat);
        assert_non_null(p);
        p += strlen(pat);
        snprintf(out, size, "%.*s", (int)strcspn(p, "\n"), p);
}

static unsigned long long file_seq(struct fixture *f) {
        char v[32];

        get(f, "seq", v, sizeof(v));
        return strtoull(v, NULL, 10);
}

/* The writer is a thread: wait (bounded) for the file to reach seq. */
static void wait_seq(struct fixture *f, unsigned long long seq) {
        for (int i = 0; i < 5000 && file_seq(f) < seq; i++)
                usleep(1000);
        assert_int_equal(file_seq(f), seq);
}

static void assert_key(struct fixture *f, const char *key, const char *want) {
        char v[256];

        get(f, key, v, sizeof(v));
        assert_string_equal(v, want);
}

static void test_first_version(void **state) {
        struct fixture *f = *state;
        char buf[1024];

        read_state(f, buf, sizeof(buf));
        assert_string_equal(buf, "# dhpd state (doc/protocol.md)\nversion=1\nseq=1\ncpus=0-1\nncpus=2\n"
                                 "memory=1073741824\nHighMemoryCondition=1\nLowMemoryCondition=0\n"
                                 "LowCommitCondition=0\nHighCommitCondition=0\nMaximumCommitCondition=0\n");
        assert_int_equal(statefile_seq(f->sf), 1);
}

static void veto(void *userdata, const dhp_proc_change *c) {
        if (dhp_proc_change_get_state(c) == DHP_PROC_ADD_START)
                dhp_proc_change_veto(c, -EBUSY);
}

static void test_one_version_per_change(void **state) {
        struct fixture *f = *state;
        dhp_proc_reg *reg;

        assert_int_equal(sim_cpu_add(f->sim, NULL), 0);
        assert_int_equal(statefile_seq(f->sf), 2);
        wait_seq(f, 2);
        assert_key(f, "cpus", "0-2");
        assert_key(f, "ncpus", "3");

        /* A vetoed add changes nothing. */
        assert_int_equal(procnotify_register(f->e, "veto", 0, veto, NULL, &reg), 0);
        assert_int_equal(sim_cpu_add(f->sim, NULL), 1);
        procnotify_deregister(reg);
        assert_int_equal(statefile_seq(f->sf), 2);

        assert_int_equal(sim_memory_add(f->sim, 256 * MIB, NULL), 0);
        engine_dispatch(f->e);
        assert_int_equal(statefile_seq(f->sf), 3);
        wait_seq(f, 3);
        assert_key(f, "memory", "1342177280");

        /* Between the thresholds: High clears.  Below low: Low sets.  The
         * same levels again: nothing. */
        assert_int_equal(sim_mem_levels_set(f->sim, SIM_LEVEL_KEEP, 20 * MIB, SIM_LEVEL_KEEP, SIM_LEVEL_KEEP, true), 0);
        assert_int_equal(statefile_seq(f->sf), 4);
        assert_int_equal(sim_mem_levels_set(f->sim, SIM_LEVEL_KEEP, 4 * MIB, SIM_LEVEL_KEEP, SIM_LEVEL_KEEP, true), 0);
        assert_int_equal(sim_mem_levels_set(f->sim, SIM_LEVEL_KEEP, 4 * MIB, SIM_LEVEL_KEEP, SIM_LEVEL_KEEP, true), 0);
        assert_int_equal(statefile_seq(f->sf), 5);
        wait_seq(f, 5);
        assert_key(f, "HighMemoryCondition", "0");
        assert_key(f, "LowMemoryCondition", "1");
}

#define ADDS 40
#define TOGGLES 50

static void *adder(void *userdata) {
        struct fixture *f = userdata;

        for (int i = 0; i < ADDS; i++)
                assert_int_equal(sim_cpu_add(f->sim, NULL), 0);
        return NULL;
}

static void *toggler(void *userdata) {
        struct fixture *f = userdata;

        for (int i = 0; i < TOGGLES; i++)
                assert_int_equal(sim_mem_levels_set(f->sim, SIM_LEVEL_KEEP, i % 2 ? 700 * MIB : 1 * MIB,
                                                    SIM_LEVEL_KEEP, SIM_LEVEL_KEEP, true), 0);
        return NULL;
}

/* Processor adds on one thread, memory levels on another: each change
 * numbered once, and the last version on disk after statefile_free(). */
static void test_racing_changes(void **state) {
        struct fixture *f = *state;
        pthread_t a, b;

        assert_int_equal(pthread_create(&a, NULL, adder, f), 0);
        assert_int_equal(pthread_create(&b, NULL, toggler, f), 0);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        /* Each toggle flips Low and High: two changes. */
        assert_int_equal(statefile_seq(f->sf), 1 + ADDS + 2 * TOGGLES);
        statefile_free(f->sf);
        f->sf = NULL;
        assert_int_equal(file_seq(f), 1 + ADDS + 2 * TOGGLES);
        assert_key(f, "cpus", "0-41");
        assert_key(f, "LowMemoryCondition", "0");
        assert_key(f, "HighMemoryCondition", "1");
}

static void test_bad_dir(void **state) {
        struct sim *sim;
        struct sim_config sc = SIM_CONFIG_DEFAULT;
        struct statefile *sf = NULL;

        assert_int_equal(sim_new(&sim, &sc), 0);
        assert_int_equal(statefile_new(&sf, sim_engine(sim), "", NULL), -EINVAL);
        assert_int_equal(statefile_new(&sf, sim_engine(sim), "/dev/null/x", NULL), -ENOTDIR);
        assert_null(sf);
        sim_free(sim);
        statefile_free(NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_first_version, setup, teardown),
                cmocka_unit_test_setup_teardown(test_one_version_per_change, setup, teardown),
                cmocka_unit_test_setup_teardown(test_racing_changes, setup, teardown),
                cmocka_unit_test(test_bad_dir),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
