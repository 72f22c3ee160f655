/* SPDX-License-Identifier: MIT */
/*
 * The peer interface's participant (core/peer.h): one registration standing
 * for another process's registrations.  The two phases driven by a peer are
 * procnotify.c's (peer_phases_*), beside the fan-out they run, so that a
 * phase read by the client goes into one file of core and back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine-internal.h"
#include "core/peer.h"

int peer_join(struct engine *e, const char *name, const struct peer_phase_ops *ops, void *userdata,
              dhp_proc_reg **ret) {
        struct dhp_proc_reg *pr;

        if (!e || !ops || !ops->send || !ops->wait || !ret)
                return -EINVAL;
        if (name && strlen(name) >= ENGINE_NAME_MAX)
                return -EINVAL;
        pr = calloc(1, sizeof(*pr));
        if (!pr)
                return -ENOMEM;
        reg_init(e, &pr->base, name, 0, userdata);
        pr->peer = ops;
        pthread_mutex_lock(&e->lock);
        list_append(&e->proc_regs, &pr->base.node);
        reg_list_changed_locked(e, REG_PROC);
        pthread_mutex_unlock(&e->lock);
        *ret = pr;
        return 0;
}
