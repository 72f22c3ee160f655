/* SPDX-License-Identifier: MIT */
/* config_load_string(): dhpd.conf, root-owned but edited by people.  On
 * success the result must satisfy what the daemon relies on; on failure
 * the configuration is untouched and the error names the file. */
#include <stdio.h>
#include <string.h>

#include "daemon/config.h"
#include "fuzz.h"

/* The longest line of text, and the number of lines. */
static size_t longest_line(const char *text, unsigned *ret_lines) {
        size_t longest = 0;
        unsigned lines = 1;

        for (const char *p = text;;) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t)(nl - p) : strlen(p);
                if (n > longest)
                        longest = n;
                if (!nl)
                        break;
                lines++;
                p = nl + 1;
        }
        *ret_lines = lines;
        return longest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = fuzz_strndup(data, size), *err = NULL;
        struct config c, before;
        unsigned lines;
        size_t longest = longest_line(text, &lines);
        int r;

        config_defaults(&c);
        memcpy(&before, &c, sizeof(c));
        r = config_load_string(&c, "fuzz.conf", text, &err);
        if (r == 0) {
                FUZZ_CHECK(err == NULL);
                FUZZ_CHECK(c.log_level >= 3 && c.log_level <= 7);
                FUZZ_CHECK(c.ncgroups <= CONFIG_MAX_CGROUPS);
                FUZZ_CHECK(c.ndevices <= CONFIG_MAX_DEVICE_POLICIES);
                FUZZ_CHECK(memchr(c.socket_path, 0, sizeof(c.socket_path)) && c.socket_path[0] == '/');
                FUZZ_CHECK(memchr(c.group, 0, sizeof(c.group)) && c.group[0]);
                FUZZ_CHECK(memchr(c.psi_trigger, 0, sizeof(c.psi_trigger)));
                for (unsigned i = 0; i < c.ncgroups; i++)
                        FUZZ_CHECK(memchr(c.cgroups[i], 0, sizeof(c.cgroups[i])) && !strstr(c.cgroups[i], ".."));
                for (unsigned i = 0; i < c.ndevices; i++)
                        FUZZ_CHECK(memchr(c.devices[i].match, 0, sizeof(c.devices[i].match)) &&
                                   (c.devices[i].policy == 1 || c.devices[i].policy == 2));
                FUZZ_CHECK(c.retry_attempts >= 1 && c.retry_attempts <= 100);
                FUZZ_CHECK(!c.low_threshold || !c.high_threshold || c.low_threshold < c.high_threshold);
                /* A line inih would have split is never accepted. */
                FUZZ_CHECK(longest <= CONFIG_LINE_MAX);
                /* What dhpd uses is what --check-config checked. */
                struct config_psi psi;
                FUZZ_CHECK(config_psi_parse(c.psi_trigger, &psi) == 0 && psi.full == c.psi.full &&
                           psi.stall_us == c.psi.stall_us && psi.window_us == c.psi.window_us);
        } else {
                FUZZ_CHECK(r < 0);
                FUZZ_CHECK(memcmp(&c, &before, sizeof(c)) == 0);
                FUZZ_CHECK(err && strncmp(err, "fuzz.conf", 9) == 0);
                /* "fuzz.conf:N: ..." names a line of the input. */
                if (err[9] == ':' && err[10] >= '0' && err[10] <= '9') {
                        unsigned long n = strtoul(err + 10, NULL, 10);
                        FUZZ_CHECK(n >= 1 && n <= lines);
                }
        }
        free(err);
        free(text);
        return 0;
}
