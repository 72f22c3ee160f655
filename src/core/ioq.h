/* SPDX-License-Identifier: MIT */
/*
 * The held-I/O queue for drivers (dhp_ioq_* in dhp.h).  A module of its
 * own: it uses no engine state, only threads, so a driver can use it with
 * or without a context.
 */
#pragma once

#include "dhp.h"

/* Held requests per queue, at most: caps what a stuck rebalance (or a
 * driver that never releases) can make us allocate. */
#define IOQ_MAX_HELD (1u << 20)
