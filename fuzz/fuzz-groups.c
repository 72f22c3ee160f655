/* SPDX-License-Identifier: MIT */
/*
 * listener_group_lookup(): /etc/group as dhpd reads it to find its
 * privileged group.  The first line of the input is the group's name, the
 * rest the file.  A gid found is on a line of that name, with the digits
 * dhpd read (a long line is one line, never split into two).
 *
 * The "Groups:" line of /proc/PID/status is no longer parsed: the groups
 * come from SO_PEERGROUPS (issue 18, item 7).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/server-internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nl = memchr(data, '\n', size);
        char name[64], line[128];
        gid_t gid = 12345;
        FILE *f;
        int r;

        if (!nl || (size_t)(nl - data) >= sizeof(name))
                return 0;
        memcpy(name, data, (size_t)(nl - data));
        name[nl - data] = 0;
        f = fmemopen((void *)(nl + 1), size - (size_t)(nl + 1 - data), "r");
        if (!f)
                return 0;
        r = listener_group_lookup(f, name, &gid);
        fclose(f);
        FUZZ_CHECK(r == 0 || r == -ENOENT || r == -EINVAL);
        if (r < 0) {
                FUZZ_CHECK(gid == 12345);
                return 0;
        }
        /* The name is there, at the start of a line, followed by ':'. */
        snprintf(line, sizeof(line), "%s:", name);
        FUZZ_CHECK(name[0] && !strchr(name, ':'));
        FUZZ_CHECK(memmem(nl + 1, size - (size_t)(nl + 1 - data), line, strlen(line)));
        FUZZ_CHECK(gid != (gid_t)-1);
        return 0;
}
