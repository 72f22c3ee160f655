/* SPDX-License-Identifier: MIT */
/*
 * topology_load() over a small fake sysfs tree whose files come from the
 * input: pieces separated by FUZZ_SEP, each "RELPATH\nCONTENT" (a file) or
 * "RELPATH\n->TARGET" (a symlink, for firmware_node and physical_node*).
 * Paths are confined to sys/devices/system/{cpu,memory}/ and
 * sys/bus/acpi/devices/ under a temporary root.  Whatever the tree says,
 * the loaded model must be consistent: sorted ids, every block in exactly
 * one device, sizes that add up.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "platform/linux/topology.h"

static char root[64];

static void cleanup(void) {
        fuzz_rm_tree(root);
}

static int path_ok(const char *p) {
        static const char *const prefixes[] = { "sys/devices/system/cpu/", "sys/devices/system/memory/",
                                                "sys/bus/acpi/devices/", "sys/devices/LNXSYSTM:00/" };
        int ok = 0;

        for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
                ok |= strncmp(p, prefixes[i], strlen(prefixes[i])) == 0;
        if (!ok || strstr(p, "..") || strstr(p, "//") || p[strlen(p) - 1] == '/')
                return 0;
        for (const char *c = p; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '/' ||
                      *c == '_' || *c == ':' || *c == '.' || *c == '-'))
                        return 0;
        return 1;
}

static void make_entry(const uint8_t *piece, size_t len) {
        char abs[512];

        if (!fuzz_tree_entry(root, piece, len, path_ok, abs, sizeof(abs), &piece, &len))
                return;
        if (len >= 2 && piece[0] == '-' && piece[1] == '>') {
                char target[256];
                if (len - 2 == 0 || len - 2 >= sizeof(target) || memchr(piece + 2, 0, len - 2) || piece[2] == '/')
                        return;
                memcpy(target, piece + 2, len - 2);
                target[len - 2] = 0;
                (void)symlink(target, abs);
        } else if (len == 1 && piece[0] == '/') {
                mkdir(abs, 0755); /* an empty directory (cpu0 without online) */
        } else {
                int fd = open(abs, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd >= 0) {
                        (void)!write(fd, piece, len);
                        close(fd);
                }
        }
}

static void check_model(const struct topology *t) {
        uint64_t total = 0;

        for (uint32_t i = 1; i < t->n_cpus; i++)
                FUZZ_CHECK(t->cpus[i - 1].id < t->cpus[i].id);
        for (uint32_t i = 0; i < t->n_cpus; i++)
                FUZZ_CHECK(topology_find_cpu(t, t->cpus[i].id) == &t->cpus[i]);
        for (uint32_t i = 0; i < t->n_blocks; i++) {
                FUZZ_CHECK(i == 0 || t->blocks[i - 1].id < t->blocks[i].id);
                FUZZ_CHECK(t->blocks[i].device < t->n_devs);
                FUZZ_CHECK(topology_find_block(t, t->blocks[i].id) == &t->blocks[i]);
                FUZZ_CHECK(memchr(t->blocks[i].valid_zones, 0, sizeof(t->blocks[i].valid_zones)));
        }
        for (uint32_t d = 0; d < t->n_devs; d++) {
                const struct topology_memdev *dv = &t->devs[d];
                FUZZ_CHECK(dv->n_blocks > 0 && dv->n_online <= dv->n_blocks);
                FUZZ_CHECK(dv->first + dv->n_blocks <= t->n_blocks);
                FUZZ_CHECK(memchr(dv->name, 0, sizeof(dv->name)) && dv->name[0]);
                for (uint32_t k = 0; k < dv->n_blocks; k++)
                        FUZZ_CHECK(t->blocks[t->dev_blocks[dv->first + k]].device == d);
                total += dv->n_blocks;
        }
        FUZZ_CHECK(total == t->n_blocks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *p = data, *end = data + size, *piece;
        struct topology *t = NULL;
        size_t len;
        int n = 0, r;

        if (!root[0])
                fuzz_mkdtemp(root, sizeof(root), "topology", cleanup);
        cleanup();
        if (mkdir(root, 0755) < 0 && errno != EEXIST)
                abort();
        while (n++ < 96 && fuzz_next_piece(&p, end, &piece, &len))
                make_entry(piece, len);

        r = topology_load(&t, root, TOPOLOGY_LOAD_ZONES, NULL);
        if (r == 0) {
                check_model(t);
                for (uint32_t i = 0; i < t->n_blocks && i < 8; i++) {
                        char fw[64];
                        enum memblock_state st;
                        (void)topology_block_firmware_node(root, t->blocks[i].id, fw, sizeof(fw));
                        (void)topology_read_block_state(root, t->blocks[i].id, &st);
                }
                topology_free(t);
        } else {
                FUZZ_CHECK(r < 0 && t == NULL);
        }
        return 0;
}
