/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform/linux/topology.h"
#include "util/macro.h"

#define CPU_DIR "/sys/devices/system/cpu"
#define MEM_DIR "/sys/devices/system/memory"
#define ACPI_DIR "/sys/bus/acpi/devices"
#define ACPI_MEMDEV_PREFIX "PNP0C80:"
#define NONE UINT32_MAX

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

/* "<prefix><decimal>" with nothing after: the decimal, else -EINVAL. */
static int parse_indexed_name(const char *name, const char *prefix, uint32_t *ret) {
        size_t pl = strlen(prefix);
        uint64_t v = 0;
        const char *p;

        if (strncmp(name, prefix, pl) != 0 || !name[pl])
                return -EINVAL;
        for (p = name + pl; *p; p++) {
                if (*p < '0' || *p > '9' || (p == name + pl && *p == '0' && p[1]))
                        return -EINVAL;
                v = v * 10 + (uint64_t)(*p - '0');
                if (v >= UINT32_MAX)
                        return -ERANGE;
        }
        *ret = (uint32_t)v;
        return 0;
}

static int open_dir(const char *root, const char *path, DIR **ret) {
        char p[4096];
        int r, fd;
        DIR *d;

        r = sysfs_path(p, sizeof(p), root, path);
        if (r < 0)
                return r;
        fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        *ret = d;
        return 0;
}

int memblock_state_from_string(const char *s, enum memblock_state *ret) {
        if (strcmp(s, "online") == 0)
                *ret = MEMBLOCK_STATE_ONLINE;
        else if (strcmp(s, "offline") == 0)
                *ret = MEMBLOCK_STATE_OFFLINE;
        else if (strcmp(s, "going-offline") == 0)
                *ret = MEMBLOCK_STATE_GOING_OFFLINE;
        else
                return -EBADMSG;
        return 0;
}

const char *memblock_state_to_string(enum memblock_state s) {
        switch (s) {
        case MEMBLOCK_STATE_ONLINE:
                return "online";
        case MEMBLOCK_STATE_OFFLINE:
                return "offline";
        case MEMBLOCK_STATE_GOING_OFFLINE:
                return "going-offline";
        }
        return "unknown";
}

static int parse_01(const char *s, bool *ret) {
        if (s[0] == '0' && !s[1])
                *ret = false;
        else if (s[0] == '1' && !s[1])
                *ret = true;
        else
                return -EBADMSG;
        return 0;
}

void topology_free(struct topology *t) {
        if (!t)
                return;
        cpuset_deinit(&t->possible);
        cpuset_deinit(&t->present);
        cpuset_deinit(&t->online);
        free(t->cpus);
        free(t->blocks);
        free(t->devs);
        free(t->dev_blocks);
        free(t);
}

static int cmp_cpu(const void *a, const void *b) {
        const struct topology_cpu *x = a, *y = b;
        return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_block(const void *a, const void *b) {
        const struct topology_memblock *x = a, *y = b;
        return x->id < y->id ? -1 : x->id > y->id;
}

static int load_cpus(struct topology *t, const char *root, const struct logger *log) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        size_t cap = 0;
        int r;

        r = sysfs_read_cpuset(root, CPU_DIR "/possible", &t->possible);
        if (r < 0)
                return r == -EINVAL ? -EBADMSG : r;
        r = sysfs_read_cpuset(root, CPU_DIR "/present", &t->present);
        if (r < 0)
                return r == -EINVAL ? -EBADMSG : r;
        r = sysfs_read_cpuset(root, CPU_DIR "/online", &t->online);
        if (r < 0)
                return r == -EINVAL ? -EBADMSG : r;

        r = open_dir(root, CPU_DIR, &d);
        if (r < 0)
                return r;
        while ((errno = 0, de = readdir(d))) {
                struct topology_cpu c = { 0 };
                char rel[NAME_MAX + 16], buf[16];

                if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
                        continue;
                if (parse_indexed_name(de->d_name, "cpu", &c.id) < 0)
                        continue;
                snprintf(rel, sizeof(rel), "%s/online", de->d_name);
                r = sysfs_read_at(dirfd(d), rel, buf, sizeof(buf), NULL);
                if (r == -ENOENT) {
                        c.online = cpuset_test(&t->online, c.id);
                } else if (r < 0) {
                        return r;
                } else {
                        c.hotpluggable = true;
                        r = parse_01(buf, &c.online);
                        if (r < 0) {
                                log_debug(log, "cpu%u/online: unexpected \"%s\"", c.id, buf);
                                return r;
                        }
                }
                c.present = cpuset_test(&t->present, c.id);
                if (t->n_cpus == cap) {
                        size_t nc = cap ? cap * 2 : 64;
                        struct topology_cpu *p = realloc(t->cpus, nc * sizeof(*p));
                        if (!p)
                                return -ENOMEM;
                        t->cpus = p;
                        cap = nc;
                }
                t->cpus[t->n_cpus++] = c;
        }
        if (errno)
                return -errno;
        if (t->n_cpus)
                qsort(t->cpus, t->n_cpus, sizeof(*t->cpus), cmp_cpu);
        return 0;
}

static int read_block(int dfd, const char *name, uint32_t id, uint64_t block_size, unsigned flags,
                      struct topology_memblock *b, const struct logger *log) {
        char rel[NAME_MAX + 16], buf[TOPOLOGY_ZONES_MAX];
        uint64_t phys;
        int r;

        *b = (struct topology_memblock){ .id = id, .removable = -1, .device = NONE };
        snprintf(rel, sizeof(rel), "%s/state", name);
        r = sysfs_read_at(dfd, rel, buf, sizeof(buf), NULL);
        if (r < 0)
                return r;
        r = memblock_state_from_string(buf, &b->state);
        if (r < 0) {
                log_debug(log, "%s: unexpected state \"%s\"", name, buf);
                return r;
        }
        snprintf(rel, sizeof(rel), "%s/phys_index", name);
        r = sysfs_read_at(dfd, rel, buf, sizeof(buf), NULL);
        if (r < 0)
                return r;
        r = sysfs_parse_hex_u64(buf, &phys);
        if (r < 0 || phys != id) {
                log_debug(log, "%s: phys_index \"%s\" does not match", name, buf);
                return -EBADMSG;
        }
        if (block_size && phys > UINT64_MAX / block_size)
                return -ERANGE;
        b->start = phys * block_size;
        if (!(flags & TOPOLOGY_LOAD_ZONES))
                return 0;

        snprintf(rel, sizeof(rel), "%s/valid_zones", name);
        r = sysfs_read_at(dfd, rel, b->valid_zones, sizeof(b->valid_zones), NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r < 0)
                b->valid_zones[0] = 0;
        snprintf(rel, sizeof(rel), "%s/removable", name);
        r = sysfs_read_at(dfd, rel, buf, sizeof(buf), NULL);
        if (r >= 0) {
                bool v;
                if (parse_01(buf, &v) < 0)
                        return -EBADMSG;
                b->removable = v;
        } else if (r != -ENOENT)
                return r;
        return 0;
}

static int load_blocks(struct topology *t, const char *root, unsigned flags, const struct logger *log) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        size_t cap = 0;
        int r;

        r = open_dir(root, MEM_DIR, &d);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = sysfs_read_hex_u64(root, MEM_DIR "/block_size_bytes", &t->block_size);
        if (r < 0)
                return r == -EINVAL ? -EBADMSG : r;
        if (t->block_size == 0)
                return -EBADMSG;

        while ((errno = 0, de = readdir(d))) {
                struct topology_memblock b;
                uint32_t id;

                if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
                        continue;
                if (parse_indexed_name(de->d_name, "memory", &id) < 0)
                        continue;
                r = read_block(dirfd(d), de->d_name, id, t->block_size, flags, &b, log);
                if (r == -ENOENT) {
                        /* Removed while we looked: the remove uevent follows. */
                        log_debug(log, "%s vanished during enumeration", de->d_name);
                        continue;
                }
                if (r == -EBADMSG || r == -EINVAL || r == -ERANGE || r == -EFBIG) {
                        /* One block the kernel describes in a way we do not
                         * understand must not keep every other block offline:
                         * leave it out of this enumeration, and say which. */
                        log_warning(log, "%s/%s: unexpected content (%s); this block is left alone", MEM_DIR,
                                    de->d_name, strerror(-r));
                        continue;
                }
                if (r < 0)
                        return r;
                if (t->n_blocks == cap) {
                        size_t nc = cap ? cap * 2 : 256;
                        struct topology_memblock *p = realloc(t->blocks, nc * sizeof(*p));
                        if (!p)
                                return -ENOMEM;
                        t->blocks = p;
                        cap = nc;
                }
                t->blocks[t->n_blocks++] = b;
        }
        if (errno)
                return -errno;
        /* qsort(NULL, 0, ...) is undefined: a memory directory may hold no block. */
        if (t->n_blocks)
                qsort(t->blocks, t->n_blocks, sizeof(*t->blocks), cmp_block);
        return 0;
}

static int block_index(const struct topology *t, uint32_t id) {
        size_t lo = 0, hi = t->n_blocks;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (t->blocks[mid].id == id)
                        return (int)mid;
                if (t->blocks[mid].id < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -1;
}

const struct topology_memblock *topology_find_block(const struct topology *t, uint32_t id) {
        int i = block_index(t, id);
        return i < 0 ? NULL : &t->blocks[i];
}

const struct topology_cpu *topology_find_cpu(const struct topology *t, uint32_t id) {
        size_t lo = 0, hi = t->n_cpus;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (t->cpus[mid].id == id)
                        return &t->cpus[mid];
                if (t->cpus[mid].id < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* "physical_node" or "physical_nodeN" -> the memory block id it points to. */
static int physnode_block_id(int dfd, const char *name, uint32_t *ret) {
        char target[4096];
        const char *base;
        ssize_t n;

        if (strncmp(name, "physical_node", 13) != 0)
                return -EINVAL;
        if (name[13]) {
                uint32_t k;
                if (parse_indexed_name(name, "physical_node", &k) < 0)
                        return -EINVAL;
        }
        n = readlinkat(dfd, name, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = 0;
        base = strrchr(target, '/');
        base = base ? base + 1 : target;
        return parse_indexed_name(base, "memory", ret);
}

static int acpi_memdev_walk(const char *root, const char *acpi_name, uint32_t *ids, size_t cap, size_t *ret_n) {
        _cleanup_closedir_ DIR *d = NULL;
        char path[512];
        struct dirent *de;
        size_t n = 0;
        int r;

        if (strchr(acpi_name, '/') || acpi_name[0] == '.')
                return -EINVAL;
        snprintf(path, sizeof(path), ACPI_DIR "/%s", acpi_name);
        r = open_dir(root, path, &d);
        if (r < 0)
                return r;
        while ((errno = 0, de = readdir(d))) {
                uint32_t id = 0;
                if (physnode_block_id(dirfd(d), de->d_name, &id) < 0)
                        continue;
                if (n < cap)
                        ids[n] = id;
                n++;
        }
        if (errno)
                return -errno;
        *ret_n = n;
        return 0;
}

int topology_acpi_memdev_blocks(const char *root, const char *acpi_name, uint32_t *ids, size_t cap, size_t *ret_n) {
        return acpi_memdev_walk(root, acpi_name, ids, cap, ret_n);
}

int topology_acpi_memdev_pending(const char *root, char (*names)[32], size_t cap, size_t *ret_n) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        size_t n = 0;
        int r;

        r = open_dir(root, ACPI_DIR, &d);
        if (r == -ENOENT) {
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return r;
        while ((errno = 0, de = readdir(d))) {
                char p[4096], buf[32];
                unsigned long sta;
                size_t k;
                char *end;

                if (strncmp(de->d_name, ACPI_MEMDEV_PREFIX, strlen(ACPI_MEMDEV_PREFIX)) != 0 ||
                    strlen(de->d_name) >= sizeof(names[0]))
                        continue;
                if (sysfs_pathf(p, sizeof(p), root, ACPI_DIR "/%s/status", de->d_name) < 0 ||
                    sysfs_read_at(AT_FDCWD, p, buf, sizeof(buf), NULL) < 0)
                        continue;
                errno = 0;
                sta = strtoul(buf, &end, 0);
                if (errno || end == buf || !(sta & 1))
                        continue;
                if (acpi_memdev_walk(root, de->d_name, NULL, 0, &k) < 0 || k > 0)
                        continue;
                if (n < cap)
                        memcpy(names[n], de->d_name, strlen(de->d_name) + 1); /* length checked above */
                n++;
        }
        if (errno)
                return -errno;
        *ret_n = n;
        return 0;
}

/* Mark each block bound to a PNP0C80 device with that device's position in
 * *ret_names (a malloc'ed array of names). */
static int load_acpi_bindings(const char *root, const struct topology *t, uint32_t *acpi_of,
                              char (**ret_names)[32], uint32_t *ret_n) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ char(*names)[32] = NULL;
        _cleanup_free_ uint32_t *ids = NULL;
        size_t cap = 0, ids_cap = 64;
        uint32_t n = 0;
        struct dirent *de;
        int r;

        r = open_dir(root, ACPI_DIR, &d);
        if (r == -ENOENT) {
                *ret_names = NULL;
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return r;
        ids = malloc(ids_cap * sizeof(*ids));
        if (!ids)
                return -ENOMEM;
        while ((errno = 0, de = readdir(d))) {
                size_t k;

                if (strncmp(de->d_name, ACPI_MEMDEV_PREFIX, strlen(ACPI_MEMDEV_PREFIX)) != 0 ||
                    strlen(de->d_name) >= sizeof(names[0]))
                        continue;
                r = acpi_memdev_walk(root, de->d_name, ids, ids_cap, &k);
                if (r >= 0 && k > ids_cap) {
                        uint32_t *p = realloc(ids, k * sizeof(*ids));
                        if (!p)
                                return -ENOMEM;
                        ids = p;
                        ids_cap = k;
                        r = acpi_memdev_walk(root, de->d_name, ids, ids_cap, &k);
                }
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                if (k == 0)
                        continue; /* an empty slot */
                if (n == cap) {
                        size_t nc = cap ? cap * 2 : 16;
                        char(*p)[32] = realloc(names, nc * sizeof(*p));
                        if (!p)
                                return -ENOMEM;
                        names = p;
                        cap = nc;
                }
                memcpy(names[n], de->d_name, strlen(de->d_name) + 1); /* length checked above */
                for (size_t i = 0; i < k && i < ids_cap; i++) {
                        int bi = block_index(t, ids[i]);
                        if (bi >= 0)
                                acpi_of[bi] = n;
                }
                n++;
        }
        if (errno)
                return -errno;
        *ret_names = TAKE_PTR(names);
        *ret_n = n;
        return 0;
}

static int new_dev(struct topology *t, size_t *cap, enum memdev_kind kind, const char *name) {
        if (t->n_devs == *cap) {
                size_t nc = *cap ? *cap * 2 : 16;
                struct topology_memdev *p = realloc(t->devs, nc * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                t->devs = p;
                *cap = nc;
        }
        t->devs[t->n_devs] = (struct topology_memdev){ .kind = kind };
        snprintf(t->devs[t->n_devs].name, sizeof(t->devs[0].name), "%s", name);
        return (int)t->n_devs++;
}

static int group_blocks(struct topology *t, const char *root) {
        _cleanup_free_ uint32_t *acpi_of = NULL, *dev_of_acpi = NULL, *fill = NULL;
        _cleanup_free_ char(*names)[32] = NULL;
        uint32_t n_acpi = 0;
        size_t cap = 0;
        int r;

        if (t->n_blocks == 0)
                return 0;
        acpi_of = malloc(t->n_blocks * sizeof(*acpi_of));
        if (!acpi_of)
                return -ENOMEM;
        for (uint32_t i = 0; i < t->n_blocks; i++)
                acpi_of[i] = NONE;
        r = load_acpi_bindings(root, t, acpi_of, &names, &n_acpi);
        if (r < 0)
                return r;
        dev_of_acpi = malloc((n_acpi + 1) * sizeof(*dev_of_acpi));
        if (!dev_of_acpi)
                return -ENOMEM;
        for (uint32_t i = 0; i < n_acpi; i++)
                dev_of_acpi[i] = NONE;

        /* One pass in id order numbers devices by their lowest block. */
        for (uint32_t i = 0; i < t->n_blocks; i++) {
                struct topology_memblock *b = &t->blocks[i];
                bool on = b->state == MEMBLOCK_STATE_ONLINE;

                if (acpi_of[i] != NONE) {
                        uint32_t a = acpi_of[i];
                        if (dev_of_acpi[a] == NONE) {
                                r = new_dev(t, &cap, MEMDEV_KIND_ACPI, names[a]);
                                if (r < 0)
                                        return r;
                                dev_of_acpi[a] = (uint32_t)r;
                        }
                        b->device = dev_of_acpi[a];
                } else if (i > 0 && acpi_of[i - 1] == NONE && t->blocks[i - 1].id + 1 == b->id &&
                           (t->blocks[i - 1].state == MEMBLOCK_STATE_ONLINE) == on) {
                        b->device = t->blocks[i - 1].device;
                } else {
                        r = new_dev(t, &cap, MEMDEV_KIND_RUN, "");
                        if (r < 0)
                                return r;
                        b->device = (uint32_t)r;
                }
        }

        /* Counting sort of blocks by device; id order kept within each. */
        for (uint32_t i = 0; i < t->n_blocks; i++) {
                struct topology_memdev *dv = &t->devs[t->blocks[i].device];
                if (dv->n_blocks == 0)
                        dv->start = t->blocks[i].start;
                dv->n_blocks++;
                dv->n_online += t->blocks[i].state == MEMBLOCK_STATE_ONLINE;
        }
        t->dev_blocks = malloc(t->n_blocks * sizeof(*t->dev_blocks));
        fill = malloc(t->n_devs * sizeof(*fill));
        if (!t->dev_blocks || !fill)
                return -ENOMEM;
        for (uint32_t d = 0, off = 0; d < t->n_devs; d++) {
                struct topology_memdev *dv = &t->devs[d];
                dv->first = off;
                fill[d] = off;
                off += dv->n_blocks;
                dv->size = (uint64_t)dv->n_blocks * t->block_size;
        }
        for (uint32_t i = 0; i < t->n_blocks; i++)
                t->dev_blocks[fill[t->blocks[i].device]++] = i;
        for (uint32_t d = 0; d < t->n_devs; d++) {
                struct topology_memdev *dv = &t->devs[d];
                if (dv->kind == MEMDEV_KIND_RUN)
                        snprintf(dv->name, sizeof(dv->name), "memory%u-memory%u",
                                 t->blocks[t->dev_blocks[dv->first]].id,
                                 t->blocks[t->dev_blocks[dv->first + dv->n_blocks - 1]].id);
        }
        return 0;
}

int topology_load(struct topology **ret, const char *root, unsigned flags, const struct logger *log) {
        struct topology *t;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        r = load_cpus(t, root, log);
        if (r < 0)
                goto fail;
        r = load_blocks(t, root, flags, log);
        if (r < 0)
                goto fail;
        r = group_blocks(t, root);
        if (r < 0)
                goto fail;
        log_debug(log, "topology: %u cpus, %u memory blocks of %llu bytes in %u devices", t->n_cpus, t->n_blocks,
                  (unsigned long long)t->block_size, t->n_devs);
        *ret = t;
        return 0;
fail:
        topology_free(t);
        return r;
}

int topology_read_block_state(const char *root, uint32_t id, enum memblock_state *ret) {
        char p[4096], buf[32];
        int r;

        r = sysfs_pathf(p, sizeof(p), root, MEM_DIR "/memory%u/state", id);
        if (r < 0)
                return r;
        r = sysfs_read_at(AT_FDCWD, p, buf, sizeof(buf), NULL);
        if (r < 0)
                return r;
        return memblock_state_from_string(buf, ret);
}

int topology_block_present(const char *root, uint32_t id) {
        char p[4096];
        int r;

        r = sysfs_pathf(p, sizeof(p), root, MEM_DIR "/memory%u", id);
        if (r < 0)
                return r;
        return access(p, F_OK) < 0 ? -errno : 0;
}

int topology_block_firmware_node(const char *root, uint32_t id, char *buf, size_t size) {
        char p[4096], target[4096];
        const char *base;
        ssize_t n;
        int r;

        r = sysfs_pathf(p, sizeof(p), root, MEM_DIR "/memory%u/firmware_node", id);
        if (r < 0)
                return r;
        n = readlink(p, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = 0;
        base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (strncmp(base, ACPI_MEMDEV_PREFIX, strlen(ACPI_MEMDEV_PREFIX)) != 0)
                return -ENOMEDIUM;
        if (strlen(base) >= size)
                return -ENAMETOOLONG;
        strcpy(buf, base);
        return 0;
}

int topology_block_set_state(const struct sysfs_writer *w, const char *root, uint32_t id, const char *state,
                             unsigned *attempts) {
        static const char *const ok[] = { "online", "online_movable", "online_kernel", "offline" };
        char p[128];
        bool valid = false;

        for (size_t i = 0; i < ELEMENTSOF(ok); i++)
                valid = valid || strcmp(state, ok[i]) == 0;
        if (!valid) {
                if (attempts)
                        *attempts = 0;
                return -EINVAL;
        }
        snprintf(p, sizeof(p), MEM_DIR "/memory%u/state", id);
        return sysfs_write(w, root, p, state, attempts);
}
