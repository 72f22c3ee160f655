/* SPDX-License-Identifier: MIT */
/*
 * `dhpctl plot`: an SVG timeline of the hot-add transactions, drawn as
 * `systemd-analyze plot` draws a boot: one row per processor and per memory
 * device, one bar per transaction (started to arrival delivered), the
 * callbacks as spans inside it.  Records come in as parsed JSON objects (the
 * format of `dhpctl demo --json`), from a file or from dhpd's history.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "util/flatjson.h"

struct plot;

enum { PLOT_SVG, PLOT_PNG };

int plot_new(struct plot **ret);
void plot_free(struct plot *p);
/* Take what the timeline shows from one record; others are counted and
 * ignored.  0, -ENOMEM, or -EINVAL (no t_ns, a field of the wrong type, a
 * newer "schema") with *ret_why set. */
int plot_add(struct plot *p, const struct flatjson *rec, const char **ret_why);
/* How many records were taken. */
size_t plot_count(const struct plot *p);
/* Write the SVG document.  -ENOMEM, or -EIO from the stream. */
int plot_write_svg(struct plot *p, FILE *f);
/* Whether rsvg-convert, which makes the PNG, is on $PATH. */
bool plot_png_available(void);
/* Write the drawing to `path` (NULL: stdout, SVG only) as PLOT_SVG or
 * PLOT_PNG.  A negative errno, with *ret_why set when errno alone would
 * not say what failed. */
int plot_write(struct plot *p, const char *path, int format, const char **ret_why);
