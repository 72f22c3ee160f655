/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/demo-rebalance.h"

#define DEMO_IO_SLOTS 4096

struct demo_rebalance {
        dhp_device *disk, *eth, *gpu;
        dhp_driver *drv[5];
        dhp_ioq *q;

        /* I/O: a submitter and a "hardware" thread completing requests. */
        pthread_t submitter, hardware;
        bool threads;
        atomic_int stop;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        void *inflight[DEMO_IO_SLOTS];
        size_t ninflight;
        uint64_t drain_timeouts;
};

static void nap_us(long us) {
        struct timespec ts = { 0, us * 1000 };
        nanosleep(&ts, NULL);
}

/* The disk's process callback: hand the request to the hardware. */
static void disk_process(void *userdata, void *req) {
        struct demo_rebalance *d = userdata;

        pthread_mutex_lock(&d->lock);
        while (d->ninflight == DEMO_IO_SLOTS)
                pthread_cond_wait(&d->cond, &d->lock);
        d->inflight[d->ninflight++] = req;
        pthread_mutex_unlock(&d->lock);
}

static void *hardware(void *userdata) {
        struct demo_rebalance *d = userdata;

        for (;;) {
                void *done[DEMO_IO_SLOTS];
                size_t n;

                nap_us(100); /* the device works */
                pthread_mutex_lock(&d->lock);
                n = d->ninflight;
                memcpy(done, d->inflight, n * sizeof(void *));
                d->ninflight = 0;
                pthread_cond_broadcast(&d->cond);
                pthread_mutex_unlock(&d->lock);
                for (size_t i = 0; i < n; i++)
                        dhp_ioq_complete(d->q, done[i]);
                if (n == 0 && atomic_load(&d->stop) == 2)
                        return NULL;
        }
}

static void *submitter(void *userdata) {
        struct demo_rebalance *d = userdata;
        uintptr_t seq = 0;

        while (!atomic_load(&d->stop)) {
                dhp_ioq_submit(d->q, (void *)++seq);
                nap_us(20);
        }
        return NULL;
}

static int disk_driver(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        struct demo_rebalance *d = userdata;

        switch (req) {
        case DHP_REBALANCE_QUERY_STOP:
                return dhp_ioq_hold(d->q); /* hold new I/O from now on */
        case DHP_REBALANCE_STOP:
                /* Wait for the hardware to finish what it has; bounded. */
                if (dhp_ioq_drain(d->q, 1000) < 0) {
                        d->drain_timeouts++;
                        return -ETIMEDOUT;
                }
                return 0;
        case DHP_REBALANCE_START:
        case DHP_REBALANCE_CANCEL_STOP:
                dhp_ioq_release(d->q); /* reconnected: the held I/O goes */
                return 0;
        }
        return 0;
}

static int pass_through(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        return 0;
}

static int refuse_query_stop(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        return req == DHP_REBALANCE_QUERY_STOP ? -EBUSY : 0;
}

int demo_rebalance_setup(dhp *ctx, FILE *out, struct demo_rebalance **ret) {
        struct demo_rebalance *d;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        pthread_mutex_init(&d->lock, NULL);
        pthread_cond_init(&d->cond, NULL);
        if ((r = dhp_ioq_new(&d->q, disk_process, d)) < 0 ||
            (r = dhp_device_new(ctx, "disk0", DHP_SETUP_CLASS_STORAGE, &d->disk)) < 0 ||
            (r = dhp_driver_attach(d->disk, "disk", disk_driver, d, &d->drv[0])) < 0 ||
            (r = dhp_driver_attach(d->disk, "stor-filter", pass_through, NULL, &d->drv[1])) < 0 ||
            (r = dhp_device_new(ctx, "eth0", DHP_SETUP_CLASS_NET, &d->eth)) < 0 ||
            (r = dhp_driver_attach(d->eth, "nic", pass_through, NULL, &d->drv[2])) < 0 ||
            (r = dhp_device_new(ctx, "gpu0", DHP_SETUP_CLASS_DISPLAY, &d->gpu)) < 0 ||
            (r = dhp_driver_attach(d->gpu, "gpu", refuse_query_stop, NULL, &d->drv[3])) < 0 ||
            (r = dhp_driver_attach(d->gpu, "gpu-filter", pass_through, NULL, &d->drv[4])) < 0)
                goto fail;
        if ((r = -pthread_create(&d->hardware, NULL, hardware, d)) < 0)
                goto fail;
        if ((r = -pthread_create(&d->submitter, NULL, submitter, d)) < 0) {
                atomic_store(&d->stop, 2);
                pthread_join(d->hardware, NULL);
                goto fail;
        }
        d->threads = true;
        if (out) {
                fprintf(out, "device disk0 (Storage): stor-filter over disk; I/O through dhp_ioq\n");
                fprintf(out, "device eth0  (Net):     nic; not rebalanced (class Net opts out)\n");
                fprintf(out, "device gpu0  (Display): gpu-filter over gpu; gpu refuses QUERY_STOP\n");
        }
        *ret = d;
        return 0;
fail:
        demo_rebalance_free(d);
        return r;
}

static void stop_io(struct demo_rebalance *d) {
        if (!d->threads)
                return;
        atomic_store(&d->stop, 1);
        pthread_join(d->submitter, NULL);
        /* Anything held is released by the rebalance that held it; what is
         * in flight the hardware completes before it stops. */
        dhp_ioq_drain(d->q, 5000);
        atomic_store(&d->stop, 2);
        pthread_join(d->hardware, NULL);
        d->threads = false;
}

void demo_rebalance_report(struct demo_rebalance *d, FILE *out) {
        static const struct { dhp_ioq_stat s; const char *name; } stats[] = {
                { DHP_IOQ_STAT_SUBMITTED, "submitted" }, { DHP_IOQ_STAT_COMPLETED, "completed" },
                { DHP_IOQ_STAT_HELD, "held" },           { DHP_IOQ_STAT_PENDING, "still held" },
                { DHP_IOQ_STAT_HOLDS, "holds" },
        };
        dhp_device *devs[3] = { d->disk, d->eth, d->gpu };
        uint64_t v;

        stop_io(d);
        fprintf(out, "  disk0:   I/O");
        for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]); i++)
                if (dhp_ioq_get_stat(d->q, stats[i].s, &v) == 0)
                        fprintf(out, " %s %llu%s", stats[i].name, (unsigned long long)v,
                                i + 1 < sizeof(stats) / sizeof(stats[0]) ? "," : "\n");
        if (dhp_ioq_get_stat(d->q, DHP_IOQ_STAT_HOLD_NS_MAX, &v) == 0)
                fprintf(out, "  disk0:   I/O held at most %.1f us in one rebalance%s\n", (double)v / 1e3,
                        d->drain_timeouts ? " (a drain timed out)" : "");
        for (int i = 0; i < 3; i++) {
                uint64_t last = 0, max = 0;
                char *aff = NULL, label[80];

                dhp_device_get_stopped_ns(devs[i], &last, &max);
                dhp_device_get_affinity(devs[i], &aff);
                snprintf(label, sizeof(label), "%s:", dhp_device_get_name(devs[i]));
                if (max)
                        fprintf(out, "  %-8s stopped %.1f us last, %.1f us at most; interrupt affinity %s\n", label,
                                (double)last / 1e3, (double)max / 1e3, aff ? aff : "?");
                else
                        fprintf(out, "  %-8s never stopped; interrupt affinity %s\n", label, aff ? aff : "?");
                free(aff);
        }
}

void demo_rebalance_free(struct demo_rebalance *d) {
        if (!d)
                return;
        stop_io(d);
        dhp_device_free(d->disk);
        dhp_device_free(d->eth);
        dhp_device_free(d->gpu);
        dhp_ioq_free(d->q);
        pthread_mutex_destroy(&d->lock);
        pthread_cond_destroy(&d->cond);
        free(d);
}
