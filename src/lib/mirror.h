/* SPDX-License-Identifier: MIT */
/*
 * The client library's mirror of dhpd's devices (target "unix:"), over the
 * engine's peer interface (core/peer.h): the devices whose drivers live in this
 * process but whose sequence dhpd runs.  The connection (lib/client.c)
 * decodes dhpd's messages and calls these.
 */
#pragma once

#include <stdint.h>

#include "core/engine.h"
#include "core/rebalance.h"
#include "dhp.h"

struct peer_device_ops;

/* The rebalance module of a mirror: its devices are dhpd's, every change
 * goes through `ops` (the connection's requests) first. */
int mirror_devices_new(struct engine *e, const struct peer_device_ops *ops, void *ud, struct rebalance **ret);
/* dhpd's view of a device: its affinity (a CPU list) and stopped times.
 * -EINVAL when the list does not parse (the times are kept anyway). */
int mirror_device_update(dhp_device *dev, const char *affinity, uint64_t stopped_last, uint64_t stopped_max);
/* Run one request dhpd sent to a driver (rebalance_driver_begin() done,
 * under the connection's lock): at START the device's affinity becomes
 * new_affinity first, as in a local sequence.  Returns the handler's
 * status. */
int mirror_driver_run(dhp_driver *drv, dhp_rebalance_request req, uint32_t processor, uint32_t vectors,
                      const char *old_affinity, const char *new_affinity);
