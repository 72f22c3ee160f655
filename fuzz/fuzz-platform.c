/* SPDX-License-Identifier: MIT */
/*
 * The Linux platform as dhpd runs it, fed a burst of uevent datagrams
 * (pieces separated by FUZZ_SEP) through a socketpair, over a fixed fake
 * sysfs tree: 4 possible processors (2 online), memory blocks 0-7 online,
 * 8-9 an offline ACPI memory device, 10-11 offline without firmware node.
 * Writes are recorded, never performed, so every run sees the same tree.
 * Whatever the uevents say (any action, devpath, index, SEQNUM order), the
 * platform must neither crash nor touch anything but cpuN/online and
 * memoryN/state of hardware that exists.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "platform/linux/linux.h"

static char root[64];

static void cleanup(void) {
        fuzz_rm_tree(root);
}

static void put(const char *rel, const char *content) {
        char abs[512];
        FILE *f;

        snprintf(abs, sizeof(abs), "%s/%s", root, rel);
        fuzz_mkparents(root, abs);
        f = fopen(abs, "we");
        if (!f)
                abort();
        fputs(content, f);
        fclose(f);
}

static void link_at(const char *target, const char *rel) {
        char abs[512];

        snprintf(abs, sizeof(abs), "%s/%s", root, rel);
        if (symlink(target, abs) < 0)
                abort();
}

static void make_tree(void) {
        char rel[128], val[32];

        fuzz_mkdtemp(root, sizeof(root), "platform", cleanup);
        put("sys/devices/system/cpu/possible", "0-3\n");
        put("sys/devices/system/cpu/present", "0-3\n");
        put("sys/devices/system/cpu/online", "0-1\n");
        put("sys/devices/system/cpu/cpu1/online", "1\n");
        put("sys/devices/system/cpu/cpu2/online", "0\n");
        put("sys/devices/system/cpu/cpu3/online", "0\n");
        mkdir(strcat(strcpy((char[512]){ 0 }, root), "/sys/devices/system/cpu/cpu0"), 0755);
        put("sys/devices/system/memory/block_size_bytes", "8000000\n");
        for (int b = 0; b < 12; b++) {
                snprintf(rel, sizeof(rel), "sys/devices/system/memory/memory%d/state", b);
                put(rel, b < 8 ? "online\n" : "offline\n");
                snprintf(rel, sizeof(rel), "sys/devices/system/memory/memory%d/phys_index", b);
                snprintf(val, sizeof(val), "%08x\n", b);
                put(rel, val);
        }
        put("sys/devices/LNXSYSTM:00/LNXSYBUS:00/PNP0A06:00/PNP0C80:00/status", "15\n");
        put("sys/bus/acpi/devices/.keep", "");
        link_at("../../../devices/LNXSYSTM:00/LNXSYBUS:00/PNP0A06:00/PNP0C80:00", "sys/bus/acpi/devices/PNP0C80:00");
        link_at("../../../system/memory/memory8",
                "sys/devices/LNXSYSTM:00/LNXSYBUS:00/PNP0A06:00/PNP0C80:00/physical_node");
        link_at("../../../system/memory/memory9",
                "sys/devices/LNXSYSTM:00/LNXSYBUS:00/PNP0A06:00/PNP0C80:00/physical_node1");
        link_at("../../../../LNXSYSTM:00/LNXSYBUS:00/PNP0A06:00/PNP0C80:00",
                "sys/devices/system/memory/memory8/firmware_node");
        link_at("../../../../LNXSYSTM:00/LNXSYBUS:00/PNP0A06:00/PNP0C80:00",
                "sys/devices/system/memory/memory9/firmware_node");
        put("proc/meminfo", "MemTotal: 1048576 kB\nMemAvailable: 524288 kB\nCommitLimit: 1048576 kB\n"
                            "Committed_AS: 102400 kB\n");
}

/* Only cpu2, cpu3 (offline, present) and memory8-11 (offline) may be
 * written; anything else means the platform acted on hardware that is not
 * there. */
static int record_write(void *userdata, const char *path, const char *value, size_t len) {
        static const char *const allowed[] = {
                "/sys/devices/system/cpu/cpu2/online",       "/sys/devices/system/cpu/cpu3/online",
                "/sys/devices/system/memory/memory8/state",  "/sys/devices/system/memory/memory9/state",
                "/sys/devices/system/memory/memory10/state", "/sys/devices/system/memory/memory11/state",
        };
        size_t rl = strlen(root);
        int ok = 0;

        (void)userdata;
        (void)value;
        (void)len;
        FUZZ_CHECK(strncmp(path, root, rl) == 0);
        for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
                ok |= strcmp(path + rl, allowed[i]) == 0;
        if (!ok)
                fprintf(stderr, "unexpected write to %s\n", path + rl);
        FUZZ_CHECK(ok);
        return 0;
}

static void no_sleep(void *userdata, uint64_t ns) {
        (void)userdata;
        (void)ns;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *p = data, *end = data + size, *piece;
        struct sysfs_writer w = { .write = record_write, .sleep = no_sleep };
        struct linux_platform *lp = NULL;
        struct linux_config lc;
        size_t len;
        int sv[2], n = 0;

        if (!root[0])
                make_tree();
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
                abort();
        linux_config_defaults(&lc);
        lc.root = root;
        lc.uevent_fd = sv[0];
        lc.writer = &w;
        if (linux_platform_new(&lp, &lc, NULL) < 0 || linux_platform_start(lp) < 0)
                abort();
        while (n < 64 && fuzz_next_piece(&p, end, &piece, &len)) {
                if (len == 0)
                        continue;
                if (send(sv[1], piece, len, MSG_DONTWAIT) < 0)
                        break;
                n++;
        }
        FUZZ_CHECK(linux_platform_process(lp) == n);
        engine_dispatch(linux_platform_engine(lp));
        linux_platform_free(lp);
        close(sv[1]);
        return 0;
}
