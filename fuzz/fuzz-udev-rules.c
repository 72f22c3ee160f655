/* SPDX-License-Identifier: MIT */
/*
 * coexist_scan_rules_text(): a udev rules file from /etc/udev/rules.d,
 * /run, /usr/lib... (any package can ship one), read at dhpd's start to
 * find rules that online hot-added CPUs or memory.  Every finding names
 * the file, a line inside it and a fix, all NUL-terminated.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "platform/linux/coexist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct coexist_report r = { 0 };
        char *text = fuzz_strndup(data, size);
        unsigned lines = 1;
        int ret;

        for (const char *p = text; *p; p++)
                lines += *p == '\n';
        ret = coexist_scan_rules_text(&r, "/etc/udev/rules.d/99-fuzz.rules", text);
        FUZZ_CHECK(ret == 0 || ret == -ENOMEM);
        for (size_t i = 0; i < r.n; i++) {
                const struct coexist_finding *f = &r.findings[i];
                FUZZ_CHECK(f->kind == COEXIST_UDEV_CPU || f->kind == COEXIST_UDEV_MEMORY);
                FUZZ_CHECK(memchr(f->path, 0, sizeof(f->path)) && strcmp(f->path, "/etc/udev/rules.d/99-fuzz.rules") == 0);
                FUZZ_CHECK(f->line >= 1 && f->line <= lines);
                FUZZ_CHECK(memchr(f->message, 0, sizeof(f->message)) && f->message[0]);
                FUZZ_CHECK(memchr(f->fix, 0, sizeof(f->fix)));
        }
        coexist_report_deinit(&r);
        free(text);
        return 0;
}
