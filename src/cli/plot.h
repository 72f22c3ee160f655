/* SPDX-License-Identifier: MIT */
/*
 * `dhpctl plot`: an SVG timeline of the notification stream, in the spirit
 * of `systemd-analyze plot`.  Records come in as parsed JSON objects (the
 * format of `dhpctl demo --json`), from a file or from dhpd's history.
 */
#pragma once

#include <stdio.h>

#include "util/flatjson.h"

struct plot;

int plot_new(struct plot **ret);
void plot_free(struct plot *p);
/* Take what the timeline shows from one record; others are counted and
 * ignored.  0, -ENOMEM, or -EINVAL (no t_ns, or a field of the wrong type)
 * with *ret_why set. */
int plot_add(struct plot *p, const struct flatjson *rec, const char **ret_why);
/* How many records were taken. */
size_t plot_count(const struct plot *p);
/* Write the SVG document.  -ENOMEM, or -EIO from the stream. */
int plot_write_svg(struct plot *p, FILE *f);
