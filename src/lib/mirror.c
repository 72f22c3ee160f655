/* SPDX-License-Identifier: MIT */
/*
 * The client library's mirror of dhpd's devices (lib/mirror.h).  The
 * engine's device module keeps the devices and runs their drivers; what is
 * dhpd's (the affinity it decided, the times it measured) comes here in
 * dhpd's words and is handed to the engine through core/peer.h.
 */
#include <errno.h>

#include "core/peer.h"
#include "lib/mirror.h"
#include "util/cpuset.h"

int mirror_devices_new(struct engine *e, const struct peer_device_ops *ops, void *ud, struct rebalance **ret) {
        struct rebalance *rb;
        int r;

        r = rebalance_new(e, &rb);
        if (r < 0)
                return r;
        rebalance_set_peer(rb, ops, ud);
        *ret = rb;
        return 0;
}

int mirror_device_update(dhp_device *dev, const char *affinity, uint64_t stopped_last, uint64_t stopped_max) {
        struct cpuset s = CPUSET_INIT;
        int r = cpuset_parse(&s, affinity);

        rebalance_device_sync(dev, r == 0 ? &s : NULL, stopped_last, stopped_max);
        cpuset_deinit(&s);
        return r;
}

int mirror_driver_run(dhp_driver *drv, dhp_rebalance_request req, uint32_t processor, uint32_t vectors,
                      const char *old_affinity, const char *new_affinity) {
        struct cpuset s = CPUSET_INIT;
        bool parsed = false;
        int st;

        if (req == DHP_REBALANCE_START)
                parsed = cpuset_parse(&s, new_affinity) == 0;
        st = rebalance_driver_run(drv, req, processor, vectors, old_affinity, new_affinity, parsed ? &s : NULL);
        cpuset_deinit(&s);
        return st;
}
