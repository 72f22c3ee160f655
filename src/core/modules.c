/* SPDX-License-Identifier: MIT */
/*
 * The engine's module table (engine-internal.h): the one place that names
 * both the engine's needs and the modules that meet them, so that engine.c
 * depends on no module and every module depends on the engine.
 */
#include "core/engine-internal.h"
#include "core/memcond.h"

static int modules_attach(struct engine *e) {
        return memcond_new(e, &e->memcond);
}

static void modules_detach(struct engine *e) {
        memcond_free(e->memcond);
        e->memcond = NULL;
}

const struct engine_modules engine_modules = {
        .sync_run = procnotify_run,
        .arrival_cpu = arrival_queue_processor,
        .arrival_mem = arrival_queue_memory,
        .arrival_event = arrival_queue_event,
        .record = record_emit,
        .attach = modules_attach,
        .detach = modules_detach,
};
