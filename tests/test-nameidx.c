/* SPDX-License-Identifier: MIT */
/* lib/nameidx: the known devices' index, against a plain array kept beside
 * it the way client-registry.c keeps it (append; remove closes the gap). */
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"
#include "lib/nameidx.h"

#define N 20000

static char names[N][IPC_NAME_MAX];
static size_t n;

static void arr_add(struct nameidx *x, const char *name) {
        assert_int_equal(nameidx_add(x, name, n), 0);
        snprintf(names[n++], IPC_NAME_MAX, "%s", name);
}

static void arr_remove(struct nameidx *x, const char *name) {
        ssize_t i = nameidx_find(x, name);

        assert_true(i >= 0);
        assert_string_equal(names[i], name);
        memmove(names[i], names[i + 1], (n - (size_t)i - 1) * sizeof(names[0]));
        n--;
        nameidx_remove(x, name, (size_t)i);
}

/* Every name in the array is found at its position. */
static void check_all(const struct nameidx *x) {
        assert_int_equal(x->n, n);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(nameidx_find(x, names[i]), (ssize_t)i);
}

static void test_add_find_remove(void **state) {
        struct nameidx x = { 0 };
        char name[IPC_NAME_MAX];

        n = 0;
        assert_int_equal(nameidx_find(&x, "cpu0"), -1);
        for (int i = 0; i < N; i++) {
                snprintf(name, sizeof(name), "memory@0x%llx", (unsigned long long)i << 20);
                arr_add(&x, name);
        }
        check_all(&x);
        assert_int_equal(nameidx_find(&x, "memory@0x1"), -1);
        /* Remove every third, from the front, the middle and the end. */
        for (int i = N - 1; i >= 0; i -= 3) {
                snprintf(name, sizeof(name), "memory@0x%llx", (unsigned long long)i << 20);
                arr_remove(&x, name);
                assert_int_equal(nameidx_find(&x, name), -1);
        }
        check_all(&x);
        /* A name as long as the wire allows. */
        memset(name, 'x', IPC_NAME_MAX - 1);
        name[IPC_NAME_MAX - 1] = 0;
        arr_add(&x, name);
        check_all(&x);
        nameidx_deinit(&x);
        assert_int_equal(nameidx_find(&x, "cpu0"), -1);
}

/* Tombstones are reused and dropped: adding and removing in a loop never
 * fills the table (a probe would then never end). */
static void test_churn(void **state) {
        struct nameidx x = { 0 };
        char name[IPC_NAME_MAX];

        n = 0;
        for (int i = 0; i < 10; i++) {
                snprintf(name, sizeof(name), "cpu%d", i);
                arr_add(&x, name);
        }
        for (int round = 0; round < 100000; round++) {
                snprintf(name, sizeof(name), "memory%d", round);
                arr_add(&x, name);
                arr_remove(&x, name);
        }
        check_all(&x);
        assert_true(x.cap <= 64);
        nameidx_deinit(&x);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_add_find_remove),
                cmocka_unit_test(test_churn),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
