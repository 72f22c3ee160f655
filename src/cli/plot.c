/* SPDX-License-Identifier: MIT */
/*
 * The timeline: rows (the transaction steps, one per synchronous client,
 * one per arrival client, memory blocks, memory conditions, one per
 * rebalanced device), each holding spans (a callback's run, a device's
 * stopped window) and marks (a step, a block online, a condition).  Every
 * item has a label beside it; labels are packed into lanes so that none
 * overlaps another, and a row is as tall as its lanes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/plot.h"
#include "util/strbuf.h"

/* Geometry, in px.  Text is monospace, so its width is known. */
#define CHAR_W 6.6
#define FONT_PX 11
#define LANE_H 16
#define ROW_PAD 4
#define PLOT_W 1200.0
#define LABEL_GAP 4.0
#define MIN_SPAN_W 2.0

enum row_kind { ROW_TXN, ROW_SYNC, ROW_ARRIVAL, ROW_MEMORY, ROW_MEMCOND, ROW_DEVICE, ROW_KINDS };

enum style {
        ST_ADD_START,
        ST_ADD_COMPLETE,
        ST_ADD_FAILURE,
        ST_ARRIVAL,
        ST_REMOVAL,
        ST_STOPPED,
        ST_TXN_OK,
        ST_TXN_FAIL,
        ST_ONLINE,
        ST_COND_SET,
        ST_COND_CLEAR,
        ST_DEVICE_NOTE,
        ST_COUNT,
};

static const struct {
        const char *name, *fill, *legend;
        bool span;
} styles[ST_COUNT] = {
        [ST_ADD_START] = { "add-start", "#4a7fc1", "ADD_START callback", true },
        [ST_ADD_COMPLETE] = { "add-complete", "#3c9a5f", "ADD_COMPLETE callback", true },
        [ST_ADD_FAILURE] = { "add-failure", "#c8443c", "ADD_FAILURE callback", true },
        [ST_ARRIVAL] = { "arrival", "#8a5cb8", "arrival delivery", true },
        [ST_REMOVAL] = { "removal", "#9a9a9a", "removal delivery", true },
        [ST_STOPPED] = { "stopped", "#e08a2c", "device stopped (rebalance)", true },
        [ST_TXN_OK] = { "txn", "#2d6a9f", "transaction step", false },
        [ST_TXN_FAIL] = { "txn-failed", "#c8443c", "rejected / failed step", false },
        [ST_ONLINE] = { "online", "#3c9a5f", "memory block online", false },
        [ST_COND_SET] = { "cond-set", "#d0a000", "condition set", false },
        [ST_COND_CLEAR] = { "cond-clear", "#7a7a7a", "condition cleared", false },
        [ST_DEVICE_NOTE] = { "device-note", "#7a7a7a", "device kept / skipped", false },
};

struct item {
        uint64_t t0, t1; /* a mark: t0 == t1 */
        enum style style;
        char *label;
        char *title; /* the tooltip: what the record says */
        unsigned lane;
        double x0, x1, xl; /* placed: the item, the end of its label */
};

struct row {
        enum row_kind kind;
        char *name;
        struct item *items;
        size_t n, cap;
        unsigned lanes;
        double y, h;
};

struct plot {
        struct row *rows;
        size_t nrows, caprows;
        size_t taken;
        uint64_t tmin, tmax;
        bool any;
};

int plot_new(struct plot **ret) {
        struct plot *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

void plot_free(struct plot *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->nrows; i++) {
                for (size_t j = 0; j < p->rows[i].n; j++) {
                        free(p->rows[i].items[j].label);
                        free(p->rows[i].items[j].title);
                }
                free(p->rows[i].items);
                free(p->rows[i].name);
        }
        free(p->rows);
        free(p);
}

size_t plot_count(const struct plot *p) {
        return p->taken;
}

static struct row *row_get(struct plot *p, enum row_kind kind, const char *name) {
        struct row *r;

        for (size_t i = 0; i < p->nrows; i++)
                if (p->rows[i].kind == kind && strcmp(p->rows[i].name, name) == 0)
                        return &p->rows[i];
        if (p->nrows == p->caprows) {
                size_t cap = p->caprows ? 2 * p->caprows : 16;
                struct row *v = realloc(p->rows, cap * sizeof(*v));
                if (!v)
                        return NULL;
                p->rows = v;
                p->caprows = cap;
        }
        r = &p->rows[p->nrows];
        *r = (struct row){ .kind = kind, .name = strdup(name) };
        if (!r->name)
                return NULL;
        p->nrows++;
        return r;
}

static int item_add(struct plot *p, enum row_kind kind, const char *row, uint64_t t0, uint64_t t1, enum style st,
                    struct strbuf *label, struct strbuf *title) {
        struct row *r = row_get(p, kind, row);
        struct item *it;

        if (!r || label->oom || title->oom)
                return -ENOMEM;
        if (r->n == r->cap) {
                size_t cap = r->cap ? 2 * r->cap : 16;
                struct item *v = realloc(r->items, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                r->items = v;
                r->cap = cap;
        }
        it = &r->items[r->n];
        *it = (struct item){ .t0 = t0, .t1 = t1, .style = st };
        it->label = strbuf_steal(label);
        it->title = strbuf_steal(title);
        if (!it->label || !it->title) {
                free(it->label);
                free(it->title);
                return -ENOMEM;
        }
        r->n++;
        if (!p->any || t0 < p->tmin)
                p->tmin = t0;
        if (!p->any || t1 > p->tmax)
                p->tmax = t1;
        p->any = true;
        return 0;
}

static const char *str_or(const struct flatjson *o, const char *key, const char *dflt) {
        const char *s = flatjson_get_string(o, key);

        return s ? s : dflt;
}

/* The processor or device a record is about, for labels. */
static void what(const struct flatjson *o, struct strbuf *sb) {
        uint64_t v;

        if (flatjson_get_string(o, "name"))
                strbuf_puts(sb, flatjson_get_string(o, "name"));
        else if (flatjson_get_u64(o, "processor", &v) == 0)
                strbuf_printf(sb, "cpu%" PRIu64, v);
        else if (flatjson_get_u64(o, "block", &v) == 0)
                strbuf_printf(sb, "block %" PRIu64, v);
}

static uint64_t span_start(uint64_t t, uint64_t dur) {
        return dur < t ? t - dur : 0;
}

int plot_add(struct plot *p, const struct flatjson *o, const char **ret_why) {
        const char *method = flatjson_get_string(o, "method"), *event = flatjson_get_string(o, "event");
        const char *status = str_or(o, "status", "0");
        struct strbuf label = STRBUF_INIT, title = STRBUF_INIT;
        uint64_t t, dur = 0, seq = 0;
        int r = 0;

        if (!method || !event || flatjson_get_u64(o, "t_ns", &t) < 0) {
                *ret_why = "a record needs \"method\", \"event\" (strings) and \"t_ns\" (an integer)";
                return -EINVAL;
        }
        if (flatjson_get_u64(o, "dur_ns", &dur) == -EINVAL || flatjson_get_u64(o, "seq", &seq) == -EINVAL) {
                *ret_why = "\"dur_ns\" and \"seq\" must be integers";
                return -EINVAL;
        }
        strbuf_printf(&title, "#%" PRIu64 " %.3f ms  %s %s", seq, (double)t / 1e6, method, event);

        if (strcmp(method, "sync") == 0 && flatjson_get_string(o, "client")) {
                enum style st = strcmp(event, "ADD_START") == 0      ? ST_ADD_START
                                : strcmp(event, "ADD_COMPLETE") == 0 ? ST_ADD_COMPLETE
                                                                     : ST_ADD_FAILURE;
                strbuf_printf(&label, "%s ", event);
                what(o, &label);
                if (flatjson_get_true(o, "veto"))
                        strbuf_printf(&label, " veto %s", status);
                else if (strcmp(status, "0") != 0)
                        strbuf_printf(&label, " %s", status);
                if (flatjson_get_true(o, "existing"))
                        strbuf_puts(&label, " (existing)");
                if (flatjson_get_true(o, "missed_deadline"))
                        strbuf_puts(&label, " (missed deadline)");
                strbuf_printf(&title, "  %s  ran %.1f us", strbuf_str(&label), (double)dur / 1e3);
                r = item_add(p, ROW_SYNC, flatjson_get_string(o, "client"), span_start(t, dur), t, st, &label, &title);
        } else if (strcmp(method, "async") == 0 && flatjson_get_string(o, "client")) {
                what(o, &label);
                if (strcmp(event, "ARRIVAL") != 0)
                        strbuf_printf(&label, " %s", event);
                if (flatjson_get_true(o, "existing"))
                        strbuf_puts(&label, " (existing)");
                strbuf_printf(&title, "  %s  ran %.1f us", strbuf_str(&label), (double)dur / 1e3);
                r = item_add(p, ROW_ARRIVAL, flatjson_get_string(o, "client"), span_start(t, dur), t,
                             strcmp(event, "REMOVAL") == 0 ? ST_REMOVAL : ST_ARRIVAL, &label, &title);
        } else if (strcmp(method, "txn") == 0 && strcmp(str_or(o, "class", ""), "memory") == 0) {
                strbuf_printf(&label, "%s ", event);
                what(o, &label);
                r = item_add(p, ROW_MEMORY, "blocks", t, t, strcmp(status, "0") ? ST_TXN_FAIL : ST_ONLINE, &label,
                             &title);
        } else if (strcmp(method, "txn") == 0) {
                what(o, &label);
                strbuf_printf(&label, " %s", event);
                if (strcmp(status, "0") != 0)
                        strbuf_printf(&label, " %s", status);
                r = item_add(p, ROW_TXN, "steps", t, t,
                             strcmp(status, "0") || strcmp(event, "REJECTED") == 0 ? ST_TXN_FAIL : ST_TXN_OK, &label,
                             &title);
        } else if (strcmp(method, "memcond") == 0 && flatjson_get_string(o, "condition")) {
                uint64_t avail;
                strbuf_printf(&label, "%s %s", flatjson_get_string(o, "condition"), event);
                if (flatjson_get_u64(o, "available", &avail) == 0)
                        strbuf_printf(&title, "  available %.1f MiB", (double)avail / (1 << 20));
                r = item_add(p, ROW_MEMCOND, "conditions", t, t, strcmp(event, "SET") == 0 ? ST_COND_SET : ST_COND_CLEAR,
                             &label, &title);
        } else if (strcmp(method, "rebalance") == 0 && flatjson_get_string(o, "device") &&
                   !flatjson_get_string(o, "driver")) {
                const char *dev = flatjson_get_string(o, "device");
                uint64_t stopped;
                if (strcmp(event, "REBALANCED") == 0 && flatjson_get_u64(o, "stopped_ns", &stopped) == 0) {
                        strbuf_printf(&label, "stopped %.1f us", (double)stopped / 1e3);
                        if (flatjson_get_string(o, "new_affinity"))
                                strbuf_printf(&label, " -> %s", flatjson_get_string(o, "new_affinity"));
                        strbuf_printf(&title, "  %s: affinity %s -> %s, stopped %.1f us", dev,
                                      str_or(o, "old_affinity", "?"), str_or(o, "new_affinity", "?"),
                                      (double)stopped / 1e3);
                        r = item_add(p, ROW_DEVICE, dev, span_start(t, stopped), t, ST_STOPPED, &label, &title);
                } else {
                        strbuf_puts(&label, event);
                        if (flatjson_get_string(o, "reason"))
                                strbuf_printf(&label, " (%s)", flatjson_get_string(o, "reason"));
                        r = item_add(p, ROW_DEVICE, dev, t, t, ST_DEVICE_NOTE, &label, &title);
                }
        } else {
                goto out; /* not on the timeline */
        }
        if (r == 0)
                p->taken++;
out:
        strbuf_deinit(&label);
        strbuf_deinit(&title);
        return r;
}

/* ---- layout ------------------------------------------------------------- */

static int cmp_item(const void *a, const void *b) {
        const struct item *x = a, *y = b;

        return x->t0 < y->t0 ? -1 : x->t0 > y->t0 ? 1 : 0;
}

/* A step of 1, 2 or 5 times a power of ten, in ns, for about `want` ticks. */
static uint64_t tick_step(uint64_t range, unsigned want) {
        uint64_t step = 1;

        while (step * 10 * want <= range)
                step *= 10;
        if (step * 5 * want <= range)
                return step * 5;
        if (step * 2 * want <= range)
                return step * 2;
        return step;
}

static void xml_escape(struct strbuf *sb, const char *s) {
        for (; *s; s++)
                switch (*s) {
                case '&': strbuf_puts(sb, "&amp;"); break;
                case '<': strbuf_puts(sb, "&lt;"); break;
                case '>': strbuf_puts(sb, "&gt;"); break;
                case '"': strbuf_puts(sb, "&quot;"); break;
                case '\'': strbuf_puts(sb, "&apos;"); break;
                default:
                        /* XML 1.0 has no place for other control characters. */
                        if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
                                strbuf_puts(sb, "?");
                        else
                                strbuf_append(sb, s, 1);
                }
}

static void text_el(struct strbuf *sb, double x, double y, const char *cls, const char *anchor, const char *s) {
        strbuf_printf(sb, "<text x=\"%.1f\" y=\"%.1f\" class=\"%s\"%s%s%s>", x, y, cls, anchor ? " text-anchor=\"" : "",
                      anchor ? anchor : "", anchor ? "\"" : "");
        xml_escape(sb, s);
        strbuf_puts(sb, "</text>\n");
}

static const char *row_title(enum row_kind k) {
        switch (k) {
        case ROW_TXN: return "processor add";
        case ROW_SYNC: return "sync";
        case ROW_ARRIVAL: return "arrival";
        case ROW_MEMORY: return "memory";
        case ROW_MEMCOND: return "memcond";
        case ROW_DEVICE: return "device";
        default: return "";
        }
}

int plot_write_svg(struct plot *p, FILE *f) {
        struct strbuf sb = STRBUF_INIT;
        uint64_t t0 = p->tmin, range = p->tmax > p->tmin ? p->tmax - p->tmin : 1, step;
        double left = 0, top = 64, y, width, height, scale = PLOT_W / (double)range, right = 0;
        int r = 0;

        /* Rows grouped by kind, each kind in order of first appearance: a
         * stable insertion sort. */
        for (size_t i = 1; i < p->nrows; i++)
                for (size_t j = i; j > 0 && p->rows[j - 1].kind > p->rows[j].kind; j--) {
                        struct row tmp = p->rows[j];
                        p->rows[j] = p->rows[j - 1];
                        p->rows[j - 1] = tmp;
                }
        for (size_t i = 0; i < p->nrows; i++) {
                double w = (strlen(row_title(p->rows[i].kind)) + 2 + strlen(p->rows[i].name)) * CHAR_W;
                if (w > left)
                        left = w;
        }
        left += 24;

        /* Lanes: each item's label goes to the first lane where it clears
         * the previous label; a row is as tall as its lanes. */
        y = top;
        for (size_t i = 0; i < p->nrows; i++) {
                struct row *row = &p->rows[i];
                double *end = calloc(row->n + 1, sizeof(*end));
                if (!end) {
                        r = -ENOMEM;
                        goto out;
                }
                qsort(row->items, row->n, sizeof(*row->items), cmp_item);
                row->lanes = 1;
                for (size_t j = 0; j < row->n; j++) {
                        struct item *it = &row->items[j];
                        unsigned l = 0;
                        it->x0 = left + (double)(it->t0 - t0) * scale;
                        it->x1 = left + (double)(it->t1 - t0) * scale;
                        if (styles[it->style].span && it->x1 - it->x0 < MIN_SPAN_W)
                                it->x1 = it->x0 + MIN_SPAN_W;
                        if (!styles[it->style].span)
                                it->x0 -= 4, it->x1 += 4; /* the mark's width */
                        it->xl = it->x1 + LABEL_GAP + strlen(it->label) * CHAR_W;
                        while (l < row->lanes && end[l] > it->x0 - LABEL_GAP)
                                l++;
                        if (l == row->lanes)
                                row->lanes++;
                        it->lane = l;
                        end[l] = it->xl;
                        if (it->xl > right)
                                right = it->xl;
                }
                /* No item at all on a lane past the last used one. */
                row->lanes = 0;
                for (size_t j = 0; j < row->n; j++)
                        if (row->items[j].lane + 1 > row->lanes)
                                row->lanes = row->items[j].lane + 1;
                if (row->lanes == 0)
                        row->lanes = 1;
                free(end);
                row->y = y;
                row->h = row->lanes * LANE_H + 2 * ROW_PAD;
                y += row->h;
        }
        if (right < left + PLOT_W)
                right = left + PLOT_W;
        width = right + 24;
        height = y + 40 + 20 * ((ST_COUNT + 3) / 4);
        /* Ticks far enough apart for their labels ("12.345 ms"). */
        for (unsigned want = 10; want > 1; want--) {
                step = tick_step(range, want);
                if ((double)step * scale >= 10 * CHAR_W + 16)
                        break;
        }

        strbuf_printf(&sb,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n"
                      "<style>\n"
                      "text { font-family: 'DejaVu Sans Mono', 'Liberation Mono', monospace; font-size: %dpx; fill: #222; }\n"
                      "text.title { font-size: 15px; font-weight: bold; }\n"
                      "text.row { fill: #333; }\n"
                      "text.tick { fill: #666; }\n"
                      "line.grid { stroke: #ddd; stroke-width: 1; }\n"
                      "rect.band { fill: #f4f6f8; }\n"
                      "</style>\n"
                      "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
                      width, height, width, height, FONT_PX);
        {
                char sub[160];
                snprintf(sub, sizeof(sub), "%zu records, %.3f ms to %.3f ms (%.3f ms)", p->taken, (double)p->tmin / 1e6,
                         (double)p->tmax / 1e6, (double)range / 1e6);
                text_el(&sb, 12, 22, "title", NULL, "dhp hot-add timeline");
                text_el(&sb, 12, 40, "tick", NULL, sub);
        }
        /* Bands, the axis and its grid. */
        for (size_t i = 0; i < p->nrows; i++)
                if (i % 2 == 0)
                        strbuf_printf(&sb, "<rect class=\"band\" x=\"0\" y=\"%.1f\" width=\"%.0f\" height=\"%.1f\"/>\n",
                                      p->rows[i].y, width, p->rows[i].h);
        for (uint64_t t = (t0 + step - 1) / step * step; t <= p->tmax; t += step) {
                double x = left + (double)(t - t0) * scale;
                int decimals = step >= 1000000 ? 0 : step >= 100000 ? 1 : step >= 10000 ? 2 : 3;
                char lb[32];
                snprintf(lb, sizeof(lb), "%.*f ms", decimals, (double)t / 1e6);
                strbuf_printf(&sb, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, top - 6,
                              x, y);
                text_el(&sb, x, top - 10, "tick", "middle", lb);
        }
        /* Rows. */
        for (size_t i = 0; i < p->nrows; i++) {
                struct row *row = &p->rows[i];
                char name[160];
                snprintf(name, sizeof(name), "%s: %s", row_title(row->kind), row->name);
                strbuf_printf(&sb, "<g class=\"row\" data-kind=\"%s\">\n", row_title(row->kind));
                text_el(&sb, 10, row->y + ROW_PAD + LANE_H - 4, "row", NULL, name);
                for (size_t j = 0; j < row->n; j++) {
                        const struct item *it = &row->items[j];
                        double ly = row->y + ROW_PAD + it->lane * LANE_H;
                        if (styles[it->style].span) {
                                strbuf_printf(&sb, "<rect class=\"span %s\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
                                                   "height=\"%d\" fill=\"%s\"><title>",
                                              styles[it->style].name, it->x0, ly + 2, it->x1 - it->x0, LANE_H - 4,
                                              styles[it->style].fill);
                        } else {
                                double cx = (it->x0 + it->x1) / 2, cy = ly + LANE_H / 2.0;
                                strbuf_printf(&sb, "<path class=\"mark %s\" d=\"M%.2f %.1f l4 -6 l4 6 l-4 6 z\" "
                                                   "fill=\"%s\"><title>",
                                              styles[it->style].name, cx - 4, cy, styles[it->style].fill);
                        }
                        xml_escape(&sb, it->title);
                        strbuf_puts(&sb, styles[it->style].span ? "</title></rect>\n" : "</title></path>\n");
                        text_el(&sb, it->x1 + LABEL_GAP, ly + LANE_H - 4, "label", NULL, it->label);
                }
                strbuf_puts(&sb, "</g>\n");
        }
        /* The legend. */
        for (int s = 0; s < ST_COUNT; s++) {
                double lx = 12 + (s % 4) * 250, ly = y + 24 + (s / 4) * 20;
                if (styles[s].span)
                        strbuf_printf(&sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"18\" height=\"10\" fill=\"%s\"/>\n", lx,
                                      ly - 9, styles[s].fill);
                else
                        strbuf_printf(&sb, "<path d=\"M%.1f %.1f l4 -6 l4 6 l-4 6 z\" fill=\"%s\"/>\n", lx + 5, ly - 4,
                                      styles[s].fill);
                text_el(&sb, lx + 24, ly, "legend", NULL, styles[s].legend);
        }
        strbuf_puts(&sb, "</svg>\n");
        if (sb.oom) {
                r = -ENOMEM;
                goto out;
        }
        if (fwrite(strbuf_str(&sb), 1, sb.len, f) != sb.len || fflush(f) != 0)
                r = -EIO;
out:
        strbuf_deinit(&sb);
        return r;
}
