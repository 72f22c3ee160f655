/* SPDX-License-Identifier: MIT */
/*
 * The timeline, drawn as `systemd-analyze plot` draws a boot: one row per
 * processor, per memory device, per memory condition and per rebalanced
 * device, rows of a fixed height so that the picture grows by one row per
 * processor and no more.  In a processor's or memory device's row each
 * transaction is a bar from its start to the delivery of its arrival, the
 * callbacks are spans inside it, and the row carries one label: the last
 * transaction's outcome.  A memory condition is a span from SET to CLEAR.
 * What a record says in full is in each element's tooltip.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/plot.h"
#include "util/strbuf.h"

/* Geometry, in px.  Text is monospace, so its width is known. */
#define CHAR_W 6.6
#define FONT_PX 11
#define ROW_H 16
#define PLOT_W 1200.0
#define LABEL_W 260.0
#define TOP 72.0
#define MIN_SPAN_W 1.5
#define NAME_MAX_CHARS 40

/* The "schema" of the JSON lines this reads (dhpctl's CTL_JSON_SCHEMA). */
#define PLOT_SCHEMA_MAX 1

extern char **environ;

enum row_kind { ROW_CPU, ROW_MEMORY, ROW_BLOCKS, ROW_COND, ROW_DEVICE, ROW_OTHER };

enum style {
        ST_ADD_START,
        ST_ADD_COMPLETE,
        ST_ADD_FAILURE,
        ST_ARRIVAL,
        ST_REMOVAL,
        ST_STOPPED,
        ST_REBALANCE,
        ST_ONLINE,
        ST_COND,
        ST_DEVICE_NOTE,
        ST_COUNT,
};

static const struct {
        const char *cls, *fill, *legend;
} styles[ST_COUNT] = {
        [ST_ADD_START] = { "span add-start", "#4a7fc1", "ADD_START callback" },
        [ST_ADD_COMPLETE] = { "span add-complete", "#3c9a5f", "ADD_COMPLETE callback" },
        [ST_ADD_FAILURE] = { "span add-failure", "#c8443c", "ADD_FAILURE callback" },
        [ST_ARRIVAL] = { "span arrival", "#8a5cb8", "arrival delivery" },
        [ST_REMOVAL] = { "span removal", "#9a9a9a", "removal delivery" },
        [ST_STOPPED] = { "span stopped", "#e08a2c", "device stopped (rebalance)" },
        [ST_REBALANCE] = { "phase rebalance", "#b0b0b0", "rebalance (BEGIN to END)" },
        [ST_ONLINE] = { "mark online", "#1f6f3f", "memory block online" },
        [ST_COND] = { "cond set", "#d0a000", "condition set (SET to CLEAR)" },
        [ST_DEVICE_NOTE] = { "mark device-note", "#7a7a7a", "device kept / skipped" },
};

struct item {
        uint64_t t0, t1; /* a mark: t0 == t1; an open condition: t1 UINT64_MAX */
        uint64_t addr;   /* a memory block's base */
        enum style style;
        char *title;     /* the tooltip: what the record says */
};

/* One transaction: from its start to the delivery of its arrival. */
struct bar {
        uint64_t t0, t1;
        bool failed;
};

struct row {
        enum row_kind kind;
        uint64_t key, size; /* processor index or memory base; device size */
        char *name, *label; /* label: the last outcome */
        struct item *items;
        size_t n, cap;
        struct bar *bars;
        size_t nbars, capbars;
        uint64_t rebalance_begin;
        bool rebalancing;
};

struct client {
        char *name;
        bool sync;
};

struct plot {
        struct row *rows;
        size_t nrows, caprows;
        struct client *clients;
        size_t nclients, capclients;
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
                for (size_t j = 0; j < p->rows[i].n; j++)
                        free(p->rows[i].items[j].title);
                free(p->rows[i].items);
                free(p->rows[i].bars);
                free(p->rows[i].name);
                free(p->rows[i].label);
        }
        for (size_t i = 0; i < p->nclients; i++)
                free(p->clients[i].name);
        free(p->clients);
        free(p->rows);
        free(p);
}

size_t plot_count(const struct plot *p) {
        return p->taken;
}

/* Make room for one more element of a vector. */
static int grow(void **v, size_t *cap, size_t n, size_t elem) {
        void *nv;
        size_t ncap;

        if (n < *cap)
                return 0;
        ncap = *cap ? 2 * *cap : 16;
        nv = realloc(*v, ncap * elem);
        if (!nv)
                return -ENOMEM;
        *v = nv;
        *cap = ncap;
        return 0;
}

static void see_time(struct plot *p, uint64_t t) {
        if (!p->any || t < p->tmin)
                p->tmin = t;
        if (!p->any || t > p->tmax)
                p->tmax = t;
        p->any = true;
}

static struct row *row_get(struct plot *p, enum row_kind kind, uint64_t key, const char *name) {
        struct row *r;

        for (size_t i = 0; i < p->nrows; i++)
                if (p->rows[i].kind == kind && p->rows[i].key == key && strcmp(p->rows[i].name, name) == 0)
                        return &p->rows[i];
        if (grow((void **)&p->rows, &p->caprows, p->nrows, sizeof(*p->rows)) < 0)
                return NULL;
        r = &p->rows[p->nrows];
        *r = (struct row){ .kind = kind, .key = key, .name = strndup(name, NAME_MAX_CHARS) };
        if (!r->name)
                return NULL;
        p->nrows++;
        return r;
}

static int client_see(struct plot *p, const char *name, bool sync) {
        for (size_t i = 0; i < p->nclients; i++)
                if (p->clients[i].sync == sync && strcmp(p->clients[i].name, name) == 0)
                        return 0;
        if (grow((void **)&p->clients, &p->capclients, p->nclients, sizeof(*p->clients)) < 0)
                return -ENOMEM;
        p->clients[p->nclients] = (struct client){ .name = strdup(name), .sync = sync };
        if (!p->clients[p->nclients].name)
                return -ENOMEM;
        p->nclients++;
        return 0;
}

static struct item *item_add(struct plot *p, struct row *r, uint64_t t0, uint64_t t1, enum style st,
                             struct strbuf *title) {
        struct item *it;

        if (!r || title->oom || grow((void **)&r->items, &r->cap, r->n, sizeof(*r->items)) < 0)
                return NULL;
        it = &r->items[r->n];
        *it = (struct item){ .t0 = t0, .t1 = t1, .style = st, .title = strbuf_steal(title) };
        if (!it->title)
                return NULL;
        r->n++;
        see_time(p, t0);
        if (t1 != UINT64_MAX)
                see_time(p, t1);
        return it;
}

/* The transaction a callback or step belongs to: the row's last, or a new
 * one when there is none yet (an existing processor, a partial record). */
static struct bar *bar_get(struct row *r, uint64_t t, bool fresh) {
        if (!fresh && r->nbars > 0)
                return &r->bars[r->nbars - 1];
        if (grow((void **)&r->bars, &r->capbars, r->nbars, sizeof(*r->bars)) < 0)
                return NULL;
        r->bars[r->nbars] = (struct bar){ .t0 = t, .t1 = t };
        return &r->bars[r->nbars++];
}

static void bar_extend(struct bar *b, uint64_t t0, uint64_t t1) {
        if (t0 < b->t0)
                b->t0 = t0;
        if (t1 > b->t1)
                b->t1 = t1;
}

static int row_label(struct row *r, struct strbuf *label) {
        if (label->oom)
                return -ENOMEM;
        free(r->label);
        r->label = strbuf_steal(label);
        return r->label ? 0 : -ENOMEM;
}

static const char *str_or(const struct flatjson *o, const char *key, const char *dflt) {
        const char *s = flatjson_get_string(o, key);

        return s ? s : dflt;
}

static uint64_t span_start(uint64_t t, uint64_t dur) {
        return dur < t ? t - dur : 0;
}

/* The row a record is about: a processor, a memory device, or else its
 * name.  NULL only without memory. */
static struct row *subject_row(struct plot *p, const struct flatjson *o) {
        const char *name = flatjson_get_string(o, "name");
        uint64_t v, size;
        char buf[64];

        if (flatjson_get_u64(o, "processor", &v) == 0 ||
            (name && sscanf(name, "cpu%" SCNu64, &v) == 1 && strcmp(str_or(o, "class", "processor"), "processor") == 0)) {
                snprintf(buf, sizeof(buf), "cpu%" PRIu64, v);
                return row_get(p, ROW_CPU, v, buf);
        }
        if (flatjson_get_u64(o, "base", &v) == 0 && flatjson_get_u64(o, "size", &size) == 0) {
                struct row *r;
                snprintf(buf, sizeof(buf), "memory@0x%" PRIx64, v);
                r = row_get(p, ROW_MEMORY, v, buf);
                if (r)
                        r->size = size;
                return r;
        }
        return row_get(p, ROW_OTHER, 0, name ? name : "(unnamed)");
}

/* A memory device arrived: its blocks, onlined before, move into its row
 * and its transaction starts with the first of them. */
static int memory_claim_blocks(struct plot *p, struct row *dev, struct bar *b) {
        struct row *blocks = NULL;

        for (size_t i = 0; i < p->nrows; i++)
                if (p->rows[i].kind == ROW_BLOCKS)
                        blocks = &p->rows[i];
        for (size_t i = 0; blocks && i < blocks->n;) {
                struct item *it = &blocks->items[i];
                if (it->addr < dev->key || it->addr - dev->key >= dev->size) {
                        i++;
                        continue;
                }
                if (grow((void **)&dev->items, &dev->cap, dev->n, sizeof(*dev->items)) < 0)
                        return -ENOMEM;
                bar_extend(b, it->t0, it->t1);
                dev->items[dev->n++] = *it;
                memmove(it, it + 1, (blocks->n - i - 1) * sizeof(*it));
                blocks->n--;
        }
        return 0;
}

/* A synchronous or arrival callback: a span in its subject's row. */
static int add_callback(struct plot *p, const struct flatjson *o, bool sync, const char *event, uint64_t t,
                        uint64_t dur, struct strbuf *title) {
        const char *client = flatjson_get_string(o, "client"), *status = str_or(o, "status", "0");
        struct row *r = subject_row(p, o);
        struct strbuf label = STRBUF_INIT;
        enum style st;
        struct bar *b;

        if (!r || client_see(p, client, sync) < 0)
                return -ENOMEM;
        if (sync)
                st = strcmp(event, "ADD_START") == 0 ? ST_ADD_START
                     : strcmp(event, "ADD_COMPLETE") == 0 ? ST_ADD_COMPLETE : ST_ADD_FAILURE;
        else
                st = strcmp(event, "REMOVAL") == 0 ? ST_REMOVAL : ST_ARRIVAL;
        strbuf_printf(title, "  %s: %s %s ran %.1f us%s%s", r->name, client, event, (double)dur / 1e3,
                      flatjson_get_true(o, "existing") ? " (existing)" : "",
                      flatjson_get_true(o, "missed_deadline") ? " (missed deadline)" : "");
        if (strcmp(status, "0") != 0)
                strbuf_printf(title, " %s %s", flatjson_get_true(o, "veto") ? "veto" : "status", status);
        if (!item_add(p, r, span_start(t, dur), t, st, title))
                return -ENOMEM;
        b = bar_get(r, span_start(t, dur), false);
        if (!b)
                return -ENOMEM;
        bar_extend(b, span_start(t, dur), t);
        if (flatjson_get_true(o, "veto")) {
                strbuf_printf(&label, "vetoed by %s (%s)", client, status);
                b->failed = true;
                return row_label(r, &label);
        }
        if (r->kind == ROW_MEMORY && st == ST_ARRIVAL) {
                char sz[32];
                snprintf(sz, sizeof(sz), "%.0f MiB", (double)r->size / (1 << 20));
                strbuf_printf(&label, "+%s %s", sz, flatjson_get_true(o, "existing") ? "present at start" : "online");
                if (memory_claim_blocks(p, r, b) < 0)
                        return -ENOMEM;
                return row_label(r, &label);
        }
        if (!r->label && flatjson_get_true(o, "existing")) {
                strbuf_puts(&label, "present at start");
                return row_label(r, &label);
        }
        return 0;
}

/* A transaction step (txn): opens, labels or fails a processor's bar, or
 * puts an onlined block aside until its device's arrival. */
static int add_step(struct plot *p, const struct flatjson *o, const char *event, uint64_t t, struct strbuf *title) {
        const char *status = str_or(o, "status", "0");
        struct strbuf label = STRBUF_INIT;
        struct row *r;
        struct bar *b;

        if (strcmp(str_or(o, "class", ""), "memory") == 0) {
                uint64_t base = 0;
                struct item *it;
                flatjson_get_u64(o, "base", &base);
                strbuf_printf(title, "  block at 0x%" PRIx64 " %s%s%s", base, event, strcmp(status, "0") ? " " : "",
                              strcmp(status, "0") ? status : "");
                it = item_add(p, row_get(p, ROW_BLOCKS, 0, "memory blocks"), t, t, ST_ONLINE, title);
                if (!it)
                        return -ENOMEM;
                it->addr = base;
                return 0;
        }
        r = subject_row(p, o);
        if (!r)
                return -ENOMEM;
        b = bar_get(r, t, strcmp(event, "STARTED") == 0 || (strstr(event, "FAILED") && r->nbars == 0));
        if (!b)
                return -ENOMEM;
        bar_extend(b, t, t);
        see_time(p, t);
        if (strcmp(event, "STARTED") == 0)
                strbuf_puts(&label, "started");
        else if (strcmp(event, "ADMITTED") == 0)
                strbuf_puts(&label, "admitted");
        else if (strcmp(event, "REJECTED") == 0) {
                b->failed = true;
                if (r->label && strncmp(r->label, "vetoed", 6) == 0)
                        return 0; /* the veto names the client already */
                strbuf_printf(&label, "refused (%s)", status);
        } else if (strstr(event, "FAILED")) {
                b->failed = true;
                strbuf_printf(&label, "%s (%s)", strcmp(event, "START_FAILED") == 0 ? "start failed" : "admission failed",
                              status);
        } else
                strbuf_printf(&label, "%s", event);
        return row_label(r, &label);
}

static int add_memcond(struct plot *p, const struct flatjson *o, const char *event, uint64_t t, struct strbuf *title) {
        struct row *r = row_get(p, ROW_COND, 0, flatjson_get_string(o, "condition"));
        uint64_t avail;

        if (!r)
                return -ENOMEM;
        if (flatjson_get_u64(o, "available", &avail) == 0)
                strbuf_printf(title, "  available %.1f MiB", (double)avail / (1 << 20));
        if (strcmp(event, "SET") == 0) {
                strbuf_printf(title, "  %s SET at %.3f ms", r->name, (double)t / 1e6);
                return item_add(p, r, t, UINT64_MAX, ST_COND, title) ? 0 : -ENOMEM;
        }
        if (strcmp(event, "CLEAR") == 0 && r->n > 0 && r->items[r->n - 1].t1 == UINT64_MAX) {
                struct item *it = &r->items[r->n - 1];
                char *nt;
                if (asprintf(&nt, "%s, CLEAR at %.3f ms", it->title, (double)t / 1e6) < 0)
                        return -ENOMEM;
                free(it->title);
                it->title = nt;
                it->t1 = t;
                see_time(p, t);
        }
        return 0;
}

static int add_rebalance(struct plot *p, const struct flatjson *o, const char *event, uint64_t t,
                         struct strbuf *title) {
        const char *dev = flatjson_get_string(o, "device");
        struct strbuf label = STRBUF_INIT;
        uint64_t stopped;
        struct row *r;

        if (!dev) { /* BEGIN and END: the processor's rebalance */
                if (!(r = subject_row(p, o)))
                        return -ENOMEM;
                if (strcmp(event, "BEGIN") == 0) {
                        r->rebalance_begin = t;
                        r->rebalancing = true;
                } else if (strcmp(event, "END") == 0 && r->rebalancing) {
                        r->rebalancing = false;
                        strbuf_printf(title, "  %s: devices rebalanced in %.1f us", r->name,
                                      (double)(t - r->rebalance_begin) / 1e3);
                        return item_add(p, r, r->rebalance_begin, t, ST_REBALANCE, title) ? 0 : -ENOMEM;
                }
                return 0;
        }
        if (flatjson_get_string(o, "driver"))
                return 0; /* a driver's step: inside the device's window */
        if (!(r = row_get(p, ROW_DEVICE, 0, dev)))
                return -ENOMEM;
        if (strcmp(event, "REBALANCED") == 0 && flatjson_get_u64(o, "stopped_ns", &stopped) == 0) {
                strbuf_printf(&label, "stopped %.1f us -> %s", (double)stopped / 1e3, str_or(o, "new_affinity", "?"));
                strbuf_printf(title, "  %s: affinity %s -> %s, stopped %.1f us", dev, str_or(o, "old_affinity", "?"),
                              str_or(o, "new_affinity", "?"), (double)stopped / 1e3);
                if (!item_add(p, r, span_start(t, stopped), t, ST_STOPPED, title))
                        return -ENOMEM;
        } else {
                strbuf_printf(&label, "%s%s%s%s", event, flatjson_get_string(o, "reason") ? " (" : "",
                              str_or(o, "reason", ""), flatjson_get_string(o, "reason") ? ")" : "");
                strbuf_printf(title, "  %s: %s", dev, strbuf_str(&label));
                if (!item_add(p, r, t, t, ST_DEVICE_NOTE, title))
                        return -ENOMEM;
        }
        return row_label(r, &label);
}

int plot_add(struct plot *p, const struct flatjson *o, const char **ret_why) {
        const char *method = flatjson_get_string(o, "method"), *event = flatjson_get_string(o, "event");
        struct strbuf title = STRBUF_INIT;
        uint64_t t, dur = 0, seq = 0, schema = 0;
        int r;

        if (!method || !event || flatjson_get_u64(o, "t_ns", &t) < 0) {
                *ret_why = "a record needs \"method\", \"event\" (strings) and \"t_ns\" (an integer)";
                return -EINVAL;
        }
        if (flatjson_get_u64(o, "dur_ns", &dur) == -EINVAL || flatjson_get_u64(o, "seq", &seq) == -EINVAL ||
            flatjson_get_u64(o, "schema", &schema) == -EINVAL) {
                *ret_why = "\"dur_ns\", \"seq\" and \"schema\" must be integers";
                return -EINVAL;
        }
        if (schema > PLOT_SCHEMA_MAX) {
                *ret_why = "a record of a newer \"schema\" than this dhpctl reads";
                return -EINVAL;
        }
        strbuf_printf(&title, "#%" PRIu64 " %.3f ms  %s %s", seq, (double)t / 1e6, method, event);
        if ((strcmp(method, "sync") == 0 || strcmp(method, "async") == 0) && flatjson_get_string(o, "client"))
                r = add_callback(p, o, strcmp(method, "sync") == 0, event, t, dur, &title);
        else if (strcmp(method, "txn") == 0)
                r = add_step(p, o, event, t, &title);
        else if (strcmp(method, "memcond") == 0 && flatjson_get_string(o, "condition"))
                r = add_memcond(p, o, event, t, &title);
        else if (strcmp(method, "rebalance") == 0)
                r = add_rebalance(p, o, event, t, &title);
        else {
                strbuf_deinit(&title);
                return 0; /* not on the timeline */
        }
        if (r == 0)
                p->taken++;
        strbuf_deinit(&title);
        return r;
}

/* ---- drawing -------------------------------------------------------------- */

static int cmp_row(const void *a, const void *b) {
        const struct row *x = a, *y = b;

        if (x->kind != y->kind)
                return x->kind < y->kind ? -1 : 1;
        if (x->key != y->key)
                return x->key < y->key ? -1 : 1;
        return strcmp(x->name, y->name);
}

/* A step of 1, 2 or 5 times a power of ten, in ns, for about `want` ticks. */
static uint64_t tick_step(uint64_t range, unsigned want) {
        uint64_t step = 1;

        while (step * 10 * want <= range)
                step *= 10;
        return step * 5 * want <= range ? step * 5 : step * 2 * want <= range ? step * 2 : step;
}

/* "1.5 ms", "200 us", "2 s": the unit of the whole axis, as few decimals
 * as the step needs. */
static void tick_label(uint64_t t, uint64_t step, uint64_t range, char *buf, size_t size) {
        uint64_t unit = range >= 2000000000 ? 1000000000 : range >= 2000000 ? 1000000 : range >= 2000 ? 1000 : 1;
        const char *name = unit == 1000000000 ? "s" : unit == 1000000 ? "ms" : unit == 1000 ? "us" : "ns";
        uint64_t q = unit;
        int decimals = 0;

        while (q > 1 && step % q != 0) {
                q /= 10;
                decimals++;
        }
        snprintf(buf, size, "%.*f %s", decimals, (double)t / (double)unit, name);
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

static const char *row_prefix(enum row_kind k) {
        return k == ROW_DEVICE ? "device: " : "";
}

struct frame {
        double left, scale, bottom;
        uint64_t t0, t1;
};

static double xof(const struct frame *fr, uint64_t t) {
        return fr->left + (double)(t - fr->t0) * fr->scale;
}

/* The axis along the top and the bottom, and its grid: about ten steps (six
 * at least), fewer when the labels (monospace, ~0.62 em a character) would touch. */
static void draw_axis(struct strbuf *sb, const struct frame *fr) {
        uint64_t range = fr->t1 - fr->t0, step = 1;
        char lb[32];

        for (unsigned want = 10; want >= 2; want--) {
                step = tick_step(range, want);
                if (want == 10 && range / step < 6)
                        step = tick_step(range, 6);
                tick_label(fr->t1, step, range, lb, sizeof(lb));
                if ((double)(range / step + 1) * ((double)strlen(lb) * FONT_PX * 0.62 + 12) <= PLOT_W)
                        break;
        }
        strbuf_printf(sb, "<g class=\"axis\">\n<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                      fr->left, TOP - 4, fr->left + PLOT_W, TOP - 4);
        for (uint64_t t = (fr->t0 + step - 1) / step * step; t <= fr->t1; t += step) {
                double x = xof(fr, t);
                tick_label(t, step, range, lb, sizeof(lb));
                strbuf_printf(sb, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, TOP - 8,
                              x, fr->bottom + 4);
                text_el(sb, x, TOP - 12, "tick", "middle", lb);
                text_el(sb, x, fr->bottom + 16, "tick", "middle", lb);
        }
        strbuf_puts(sb, "</g>\n");
}

static void draw_row(struct strbuf *sb, const struct frame *fr, const struct row *row, double y, bool band) {
        double last_x0 = 0, last_x1 = 0;
        char name[NAME_MAX_CHARS + 32];

        if (band)
                strbuf_printf(sb, "<rect class=\"band\" x=\"0\" y=\"%.1f\" width=\"%.0f\" height=\"%d\"/>\n", y,
                              fr->left + PLOT_W + LABEL_W, ROW_H);
        snprintf(name, sizeof(name), "%s%s", row_prefix(row->kind), row->name);
        strbuf_printf(sb, "<g class=\"row\" data-kind=\"%d\">\n", row->kind);
        text_el(sb, 8, y + ROW_H - 4, "row", NULL, name);
        for (size_t i = 0; i < row->nbars; i++) {
                const struct bar *b = &row->bars[i];
                double x0 = xof(fr, b->t0), x1 = xof(fr, b->t1);
                if (x1 - x0 < MIN_SPAN_W)
                        x1 = x0 + MIN_SPAN_W;
                strbuf_printf(sb, "<rect class=\"bar%s\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\"/>\n",
                              b->failed ? " failed" : "", x0, y + 1, x1 - x0, ROW_H - 2);
                last_x0 = x0, last_x1 = x1;
        }
        for (size_t i = 0; i < row->n; i++) {
                const struct item *it = &row->items[i];
                double x0 = xof(fr, it->t0), x1 = xof(fr, it->t1 == UINT64_MAX ? fr->t1 : it->t1);
                bool mark = it->style == ST_ONLINE || it->style == ST_DEVICE_NOTE;
                double h = it->style == ST_REBALANCE ? 3 : mark ? ROW_H - 2 : ROW_H - 6;
                double yy = it->style == ST_REBALANCE ? y + ROW_H - 4 : mark ? y + 1 : y + 3;
                if (mark)
                        x0 -= 0.75, x1 = x0 + 1.5;
                else if (x1 - x0 < MIN_SPAN_W)
                        x1 = x0 + MIN_SPAN_W;
                strbuf_printf(sb, "<rect class=\"%s\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.0f\" fill=\"%s\">"
                                  "<title>", styles[it->style].cls, x0, yy, x1 - x0, h, styles[it->style].fill);
                xml_escape(sb, it->title);
                strbuf_puts(sb, "</title></rect>\n");
                if (it->t1 != UINT64_MAX && x1 > last_x1)
                        last_x1 = x1;
                if (row->nbars == 0 && x0 > last_x0)
                        last_x0 = x0;
        }
        /* One label per row, beside its last bar; to its left when it
         * would run past the label margin. */
        if (row->label) {
                if (last_x1 + 4 + strlen(row->label) * CHAR_W <= fr->left + PLOT_W + LABEL_W)
                        text_el(sb, last_x1 + 4, y + ROW_H - 4, "label", NULL, row->label);
                else
                        text_el(sb, last_x0 - 4, y + ROW_H - 4, "label", "end", row->label);
        }
        strbuf_puts(sb, "</g>\n");
}

/* The colours, then the clients by kind: who ran the callbacks. */
static double draw_legend(struct strbuf *sb, const struct plot *p, double y, double width) {
        double x = 12;

        for (int s = 0; s < ST_COUNT; s++) {
                double w = 28 + strlen(styles[s].legend) * CHAR_W + 16;
                if (x + w > width) {
                        x = 12;
                        y += 18;
                }
                strbuf_printf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"18\" height=\"10\" fill=\"%s\"/>\n", x, y - 9,
                              styles[s].fill);
                text_el(sb, x + 24, y, "legend", NULL, styles[s].legend);
                x += w;
        }
        x = 12;
        y += 22;
        for (size_t i = 0; i < p->nclients; i++) {
                char name[96];
                snprintf(name, sizeof(name), "%s: %s", p->clients[i].sync ? "sync" : "arrival", p->clients[i].name);
                if (x > 12 && x + strlen(name) * CHAR_W > width) {
                        x = 12;
                        y += 18;
                }
                text_el(sb, x, y, "client", NULL, name);
                x += strlen(name) * CHAR_W + 24;
        }
        return y + 12;
}

int plot_write_svg(struct plot *p, FILE *f) {
        struct strbuf sb = STRBUF_INIT, body = STRBUF_INIT;
        struct frame fr = { .t0 = p->tmin, .t1 = p->tmax > p->tmin ? p->tmax : p->tmin + 1 };
        size_t nrows = 0, ncpus = 0, nmem = 0;
        double width, height, name_w = 0;
        char sub[200];
        int r = 0;

        qsort(p->rows, p->nrows, sizeof(*p->rows), cmp_row);
        for (size_t i = 0; i < p->nrows; i++) {
                const struct row *row = &p->rows[i];
                double w = (strlen(row_prefix(row->kind)) + strlen(row->name)) * CHAR_W;
                if (row->n == 0 && row->nbars == 0)
                        continue;
                name_w = w > name_w ? w : name_w;
                ncpus += row->kind == ROW_CPU;
                nmem += row->kind == ROW_MEMORY;
        }
        fr.left = name_w + 20;
        fr.scale = PLOT_W / (double)(fr.t1 - fr.t0);
        width = fr.left + PLOT_W + LABEL_W;
        for (size_t i = 0; i < p->nrows; i++)
                if (p->rows[i].n > 0 || p->rows[i].nbars > 0)
                        nrows++;
        fr.bottom = TOP + (double)nrows * ROW_H;

        draw_axis(&body, &fr);
        nrows = 0;
        for (size_t i = 0; i < p->nrows; i++)
                if (p->rows[i].n > 0 || p->rows[i].nbars > 0) {
                        draw_row(&body, &fr, &p->rows[i], TOP + (double)nrows * ROW_H, nrows % 2 == 0);
                        nrows++;
                }
        height = draw_legend(&body, p, fr.bottom + 44, width);

        strbuf_printf(&sb,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                      "data-plot-left=\"%.1f\" data-plot-width=\"%.0f\" data-rows=\"%zu\">\n"
                      "<style>\n"
                      "text { font-family: 'DejaVu Sans Mono', 'Liberation Mono', monospace; font-size: %dpx; fill: #222; }\n"
                      "text.title { font-size: 15px; font-weight: bold; }\n"
                      "text.tick { fill: #666; }\n"
                      "line.grid { stroke: #e2e2e2; stroke-width: 1; }\n"
                      "line.axis { stroke: #888; stroke-width: 1; }\n"
                      "rect.band { fill: #f4f6f8; }\n"
                      "rect.bar { fill: #c9dcf0; stroke: #7da3cc; stroke-width: 0.5; }\n"
                      "rect.bar.failed { fill: #f2c9c5; stroke: #c8443c; }\n"
                      "</style>\n"
                      "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
                      width, height, width, height, fr.left, PLOT_W, nrows, FONT_PX);
        text_el(&sb, 12, 22, "title", NULL, "dhp hot-add timeline");
        snprintf(sub, sizeof(sub), "%zu records; %zu processor(s), %zu memory device(s); %.3f ms to %.3f ms", p->taken,
                 ncpus, nmem, (double)fr.t0 / 1e6, (double)fr.t1 / 1e6);
        text_el(&sb, 12, 40, "tick", NULL, sub);
        strbuf_puts(&body, "</svg>\n");
        if (body.oom || strbuf_append(&sb, strbuf_str(&body), body.len) < 0 || sb.oom) {
                r = -ENOMEM;
                goto out;
        }
        if (fwrite(strbuf_str(&sb), 1, sb.len, f) != sb.len || fflush(f) != 0)
                r = -EIO;
out:
        strbuf_deinit(&body);
        strbuf_deinit(&sb);
        return r;
}

/* ---- files ---------------------------------------------------------------- */

bool plot_png_available(void) {
        const char *path = getenv("PATH");
        char buf[4096];

        for (const char *s = path ? path : "/usr/bin:/bin"; *s;) {
                size_t n = strcspn(s, ":");
                if (n > 0 && n < sizeof(buf) - 16) {
                        snprintf(buf, sizeof(buf), "%.*s/rsvg-convert", (int)n, s);
                        if (access(buf, X_OK) == 0)
                                return true;
                }
                s += n + (s[n] == ':');
        }
        return false;
}

static int write_svg_file(struct plot *p, const char *path) {
        FILE *f = fopen(path, "we");
        int r;

        if (!f)
                return -errno;
        r = plot_write_svg(p, f);
        if (fclose(f) != 0 && r == 0)
                r = -EIO;
        return r;
}

/* The SVG to a temporary file beside nothing of the user's, then
 * rsvg-convert makes the PNG. */
static int write_png_file(struct plot *p, const char *path, const char **ret_why) {
        const char *tmpdir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        char tmp[4096];
        pid_t pid;
        int fd, status, r;

        snprintf(tmp, sizeof(tmp), "%s/dhpctl-plot-XXXXXX.svg", tmpdir);
        fd = mkostemps(tmp, 4, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        close(fd);
        r = write_svg_file(p, tmp);
        if (r == 0) {
                char *argv[] = { "rsvg-convert", "--format=png", "--background-color=white", "-o", (char *)path, tmp,
                                 NULL };
                r = -posix_spawnp(&pid, "rsvg-convert", NULL, NULL, argv, environ);
                if (r == 0 && (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
                        *ret_why = "rsvg-convert failed (its message is above)";
                        r = -EIO;
                }
        }
        unlink(tmp);
        return r;
}

int plot_write(struct plot *p, const char *path, int format, const char **ret_why) {
        if (format == PLOT_PNG)
                return path ? write_png_file(p, path, ret_why) : -EINVAL;
        return path ? write_svg_file(p, path) : plot_write_svg(p, stdout);
}
