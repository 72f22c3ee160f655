/* SPDX-License-Identifier: MIT */
/*
 * The memory snapshot's constructor, for whoever fills one from elsewhere
 * than a local engine (the "unix:" client, from dhpd's STATUS reply).
 */
#pragma once

#include "core/engine.h"
#include "dhp.h"

/* An empty snapshot; -ENOMEM. */
int memory_snapshot_alloc(dhp_memory_snapshot **ret);
/* Append one device and its info->nblocks blocks (copied); -ENOMEM. */
int memory_snapshot_append(dhp_memory_snapshot *s, const struct engine_mem_info *info,
                           const struct engine_block_info *blocks);
