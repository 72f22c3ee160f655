/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdio.h>

struct demo_options {
        const char *scenario; /* NULL: the built-in one */
        const char *target;   /* NULL: the default simulated partition */
        bool json;
        FILE *out;
};

/* Run the demo; 0 on success, 1 after reporting an error on stderr. */
int demo_run(const struct demo_options *o);
