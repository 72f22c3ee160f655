/* SPDX-License-Identifier: MIT */
/*
 * What the library keeps to itself but its own benchmarks and tests reach
 * through the static archive: never exported from libdhp.so.
 */
#pragma once

#include "core/engine.h"
#include "dhp.h"

/* The engine behind a context. */
struct engine *dhp_engine(dhp *ctx);
