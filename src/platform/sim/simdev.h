/* SPDX-License-Identifier: MIT */
/*
 * Simulated devices for scenarios: a device with a stack of drivers that
 * accept every request, or refuse QUERY_STOP, or fail STOP, so that a
 * scenario can show every path of a rebalance.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/rebalance.h"

#define SIMDEV_MAX_DRIVERS 3

struct simdev_config {
        const char *name;
        const char *setup_class;
        int policy;        /* dhp_rebalance_policy; 0: absent */
        int affinity;      /* dhp_affinity_policy */
        uint32_t drivers;  /* 1..3: function; function+bus; filter+function+bus */
        bool refuse_query_stop; /* the function driver refuses QUERY_STOP */
        bool fail_stop;    /* the function driver returns an error from STOP */
};

/* Create the device and its stack.  Errors of dhp_device_new and
 * dhp_driver_attach; -EINVAL for a bad config. */
int simdev_add(struct rebalance *rb, const struct simdev_config *cfg);
