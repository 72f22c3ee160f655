/* SPDX-License-Identifier: MIT */
/*
 * bench-resync: the Linux platform enumerating a large machine from sysfs,
 * beside reading the same files with no processing, in the same run.
 *
 * The tree is a fake sysfs (tests/fake-sysfs.c) on tmpfs (/dev/shm): 1024
 * processors, all online, and N memory blocks of 128 MiB, all online, the
 * first quarter boot memory bound to no firmware node and the rest in ACPI
 * memory devices (PNP0C80) of 256 blocks (32 GiB) each; 32768 blocks is a
 * 4 TiB machine.  Measured:
 *
 *   start   linux_platform_new + linux_platform_start + free: read every
 *           processor and block, group the blocks into memory devices, put
 *           them in the engine's model (what dhpd does at start, and a
 *           resync does for every block it does not know)
 *   resync  linux_platform_resync on the started platform, nothing changed
 *   read    the floor: the files `start` must read (cpu lists, cpuN/online,
 *           memoryN/state and phys_index, the PNP0C80 directories and their
 *           physical_node links), each opened, read once and closed, the
 *           directories listed, nothing parsed
 *
 *   bench-resync [MAX_BLOCKS]   (default 32768)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tests/fake-sysfs.h"
#include "bench.h"
#include "platform/linux/linux.h"

#define NCPUS 1024u
#define BLOCK_SIZE (128ULL << 20)
#define DIMM_BLOCKS 256u

static int build_tree(struct fake_sysfs *f, uint32_t nblocks) {
        uint32_t boot = nblocks / 4;
        char name[32];
        int r;

        r = fake_sysfs_init(f);
        if (r < 0)
                return r;
        r = fake_sysfs_add_cpus(f, NCPUS, "0-1023");
        if (r >= 0)
                r = fake_sysfs_add_memory(f, BLOCK_SIZE, 0, nblocks, "online", NULL);
        for (uint32_t first = boot, k = 0; r >= 0 && first < nblocks; first += DIMM_BLOCKS, k++) {
                uint32_t n = nblocks - first < DIMM_BLOCKS ? nblocks - first : DIMM_BLOCKS;
                snprintf(name, sizeof(name), "PNP0C80:%02x", k);
                r = fake_sysfs_add_acpi_memdev(f, name, first, n);
        }
        if (r >= 0)
                r = fake_sysfs_printf(f, "proc/meminfo",
                                      "MemTotal: %llu kB\nMemAvailable: %llu kB\nCommitLimit: %llu kB\n"
                                      "Committed_AS: 1024 kB\n",
                                      (unsigned long long)(nblocks * (BLOCK_SIZE >> 10)),
                                      (unsigned long long)(nblocks * (BLOCK_SIZE >> 10) / 2),
                                      (unsigned long long)(nblocks * (BLOCK_SIZE >> 10)));
        return r;
}

/* ---- the floor ---------------------------------------------------------- */

static unsigned long sink;

static void read_one(int dfd, const char *rel) {
        char buf[256];
        int fd = openat(dfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (fd < 0)
                return;
        sink += (unsigned long)read(fd, buf, sizeof(buf));
        close(fd);
}

static DIR *open_dir(const char *root, const char *rel) {
        char p[4096];

        snprintf(p, sizeof(p), "%s%s", root, rel);
        return opendir(p);
}

static void read_all(const char *root) {
        struct dirent *de;
        char rel[300];
        DIR *d;

        d = open_dir(root, "/sys/devices/system/cpu");
        if (!d)
                abort();
        read_one(dirfd(d), "possible");
        read_one(dirfd(d), "present");
        read_one(dirfd(d), "online");
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, "cpu", 3) != 0 || de->d_name[3] < '0' || de->d_name[3] > '9')
                        continue;
                snprintf(rel, sizeof(rel), "%s/online", de->d_name);
                read_one(dirfd(d), rel);
        }
        closedir(d);

        d = open_dir(root, "/sys/devices/system/memory");
        if (!d)
                abort();
        read_one(dirfd(d), "block_size_bytes");
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, "memory", 6) != 0 || de->d_name[6] < '0' || de->d_name[6] > '9')
                        continue;
                snprintf(rel, sizeof(rel), "%s/state", de->d_name);
                read_one(dirfd(d), rel);
                snprintf(rel, sizeof(rel), "%s/phys_index", de->d_name);
                read_one(dirfd(d), rel);
        }
        closedir(d);

        d = open_dir(root, "/sys/bus/acpi/devices");
        if (!d)
                abort();
        while ((de = readdir(d))) {
                struct dirent *pe;
                char target[4096];
                DIR *dd;
                int fd;

                if (strncmp(de->d_name, "PNP0C80:", 8) != 0)
                        continue;
                fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0 || !(dd = fdopendir(fd)))
                        abort();
                while ((pe = readdir(dd))) {
                        ssize_t n;
                        if (strncmp(pe->d_name, "physical_node", 13) != 0)
                                continue;
                        n = readlinkat(dirfd(dd), pe->d_name, target, sizeof(target) - 1);
                        sink += n > 0 ? (unsigned long)n : 0;
                }
                closedir(dd);
        }
        closedir(d);
}

/* ---- dhp ---------------------------------------------------------------- */

struct run {
        const char *root;
        uint32_t nblocks;
        struct linux_platform *lp; /* resync */
};

static struct linux_platform *start(const char *root) {
        struct linux_config lc;
        struct linux_platform *lp;
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
                abort();
        linux_config_defaults(&lc);
        lc.root = root;
        lc.uevent_fd = sv[0]; /* the platform owns it from here */
        if (linux_platform_new(&lp, &lc, NULL) < 0 || linux_platform_start(lp) < 0)
                abort();
        close(sv[1]);
        return lp;
}

/* µs per sample, divided by the block count afterwards */
static double start_sample(void *userdata) {
        struct run *r = userdata;
        uint64_t t0 = bench_now_ns();
        struct linux_platform *lp = start(r->root);

        linux_platform_free(lp);
        return (double)(bench_now_ns() - t0) / 1e3;
}

static double resync_sample(void *userdata) {
        struct run *r = userdata;
        uint64_t t0 = bench_now_ns();

        if (linux_platform_resync(r->lp) < 0)
                abort();
        return (double)(bench_now_ns() - t0) / 1e3;
}

static double read_sample(void *userdata) {
        struct run *r = userdata;
        uint64_t t0 = bench_now_ns();

        read_all(r->root);
        return (double)(bench_now_ns() - t0) / 1e3;
}

static uint64_t device_of(struct engine *e, uint32_t block) {
        uint64_t dev;
        bool online;

        if (engine_mem_block_get(e, block, &dev, &online) < 0 || !online) {
                fprintf(stderr, "bench-resync: block %u not in the model, or offline\n", block);
                exit(1);
        }
        return dev;
}

/* The boot run is one device, each DIMM another. */
static void check_devices(const char *root, uint32_t nblocks) {
        struct linux_platform *lp = start(root);
        struct engine *e = linux_platform_engine(lp);
        uint32_t boot = nblocks / 4;

        if (device_of(e, 0) != device_of(e, boot - 1) || device_of(e, boot) == device_of(e, boot - 1) ||
            device_of(e, boot) != device_of(e, boot + DIMM_BLOCKS - 1) ||
            device_of(e, boot + DIMM_BLOCKS) == device_of(e, boot)) {
                fprintf(stderr, "bench-resync: blocks not grouped as the tree says\n");
                exit(1);
        }
        linux_platform_free(lp);
}

int main(int argc, char **argv) {
        static const uint32_t sizes[] = { 1024, 4096, 16384, 32768, 65536 };
        uint32_t max = argc > 1 ? (uint32_t)atoi(argv[1]) : 32768;
        struct stat st;

        setvbuf(stdout, NULL, _IOLBF, 0);
        /* tmpfs: the tree is ~100 000 small files at 32768 blocks. */
        if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode))
                setenv("TMPDIR", "/dev/shm", 1);
        printf("4. Enumerating sysfs: %u CPUs, N memory blocks of 128 MiB (1/4 boot run, the rest 32 GiB ACPI "
               "DIMMs), tmpfs\n",
               NCPUS);
        printf("  ms; baseline: reading the same files (\"read\")\n");
        bench_print_header();
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]) && sizes[k] <= max; k++) {
                struct fake_sysfs f = { 0 };
                struct run r = { .nblocks = sizes[k] };
                struct bench_stat rd, sa, rs, q;
                char label[80];

                if (build_tree(&f, sizes[k]) < 0) {
                        fprintf(stderr, "bench-resync: cannot build the fake tree\n");
                        fake_sysfs_deinit(&f);
                        return 1;
                }
                r.root = f.root;
                check_devices(f.root, sizes[k]);
                read_all(f.root); /* warm the dentry cache for both */
                bench_pair(start_sample, &r, read_sample, &r, &sa, &rd, &q);
                snprintf(label, sizeof(label), "%u blocks: start / read (%.2f us/block)", sizes[k], sa.med / sizes[k]);
                bench_print_pair(label, bench_stat_scale(sa, 1e-3), bench_stat_scale(rd, 1e-3), &q, "ms");
                r.lp = start(f.root);
                bench_pair(resync_sample, &r, read_sample, &r, &rs, &rd, &q);
                linux_platform_free(r.lp);
                snprintf(label, sizeof(label), "%u blocks: resync / read", sizes[k]);
                bench_print_pair(label, bench_stat_scale(rs, 1e-3), bench_stat_scale(rd, 1e-3), &q, "ms");
                fake_sysfs_deinit(&f);
        }
        printf("  (us/block: start median / blocks, CPUs included)\n");
        return sink == 0;
}
