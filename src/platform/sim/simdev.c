/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stddef.h>

#include "platform/sim/simdev.h"

struct simdrv {
        bool refuse_query_stop;
        bool fail_stop;
};

/* Every behaviour a simulated driver can have: no allocation, nothing to
 * free when the device goes. */
static const struct simdrv behaviours[4] = {
        { false, false },
        { true, false },
        { false, true },
        { true, true },
};

static int simdrv_handle(void *userdata, dhp_rebalance_request req, const dhp_rebalance_ctx *c) {
        const struct simdrv *d = userdata;

        if (req == DHP_REBALANCE_QUERY_STOP && d->refuse_query_stop)
                return -EBUSY;
        if (req == DHP_REBALANCE_STOP && d->fail_stop)
                return -EIO;
        return 0;
}

int simdev_add(struct rebalance *rb, const struct simdev_config *cfg) {
        static const char *const names[SIMDEV_MAX_DRIVERS] = { "bus", "function", "filter" };
        const struct simdrv *function = &behaviours[(cfg->refuse_query_stop ? 1 : 0) + (cfg->fail_stop ? 2 : 0)];
        dhp_device *dev;
        dhp_driver *drv;
        int r;

        if (!cfg->name || !cfg->setup_class || cfg->drivers < 1 || cfg->drivers > SIMDEV_MAX_DRIVERS)
                return -EINVAL;
        r = rebalance_device_new(rb, cfg->name, cfg->setup_class, &dev);
        if (r < 0)
                return r;
        r = dhp_device_set_policy(dev, (dhp_rebalance_policy)cfg->policy);
        if (r == 0)
                r = dhp_device_set_affinity_policy(dev, (dhp_affinity_policy)cfg->affinity);
        /* Bottom up, as a bus enumerates and function and filter drivers
         * attach: one driver is the function driver ("function"; the only
         * one of a one-driver stack). */
        for (uint32_t i = 0; r == 0 && i < cfg->drivers; i++) {
                const char *name = cfg->drivers == 1 ? "function" : names[i];
                r = dhp_driver_attach(dev, name, simdrv_handle,
                                      (void *)(name == names[1] || cfg->drivers == 1 ? function : &behaviours[0]),
                                      &drv);
        }
        if (r < 0)
                dhp_device_free(dev);
        return r;
}
