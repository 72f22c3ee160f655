/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memcond.h"
#include "platform/sim/scenario.h"
#include "util/parse.h"
#include "util/strbuf.h"

#define SCENARIO_MAX_TOKENS 16
#define SCENARIO_MAX_LINE 4096
#define SCENARIO_MAX_COUNT 4096

enum cmd_kind {
        CMD_CPU_ADD,
        CMD_CPU_ONLINE,
        CMD_MEMORY_ADD,
        CMD_FAIL,
        CMD_SETTLE,
        CMD_ECHO,
        CMD_MEMORY_LEVEL,
        CMD_MEMORY_THRESHOLDS,
        CMD_DEVICE_ADD,
        CMD_OPTOUT,
        CMD_CPU_REMOVE,
        CMD_MEMORY_REMOVE,
        CMD_VETO,
};

struct cmd {
        enum cmd_kind kind;
        unsigned line;
        uint64_t arg[4];
        char *text;
        /* device add, optout */
        char *name, *cls;
        struct simdev_config dev;
};

struct scenario {
        char *filename;
        struct cmd *cmds;
        size_t n, cap;
};

struct token {
        const char *s; /* NUL-terminated copy in the line buffer */
        unsigned col;
};

struct parser {
        const char *filename;
        unsigned line;
        char **error;
};

static const struct { const char *name; int err; } errnos[] = {
        { "EIO", EIO },       { "EBUSY", EBUSY }, { "EINVAL", EINVAL }, { "ENOMEM", ENOMEM },
        { "ENODEV", ENODEV }, { "EPERM", EPERM }, { "EAGAIN", EAGAIN }, { "ENOENT", ENOENT },
        { "ENOSPC", ENOSPC }, { "ETIMEDOUT", ETIMEDOUT },
};

static const struct { const char *name; enum sim_op op; } ops[] = {
        { "cpu-start", SIM_OP_CPU_START },
        { "cpu-admit", SIM_OP_CPU_ADMIT },
        { "cpu-stop", SIM_OP_CPU_STOP },
        { "block-online", SIM_OP_BLOCK_ONLINE },
        { "cpu-offline", SIM_OP_CPU_OFFLINE },
        { "block-offline", SIM_OP_BLOCK_OFFLINE },
};

static int fail_at(struct parser *p, unsigned col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(struct parser *p, unsigned col, const char *fmt, ...) {
        struct strbuf sb = STRBUF_INIT;
        va_list ap;

        if (p->error) {
                strbuf_printf(&sb, "%s:%u:%u: ", p->filename, p->line, col);
                va_start(ap, fmt);
                strbuf_vprintf(&sb, fmt, ap);
                va_end(ap);
                *p->error = strbuf_steal(&sb);
        }
        return -EINVAL;
}

void scenario_free(struct scenario *sc) {
        if (!sc)
                return;
        for (size_t i = 0; i < sc->n; i++) {
                free(sc->cmds[i].text);
                free(sc->cmds[i].name);
                free(sc->cmds[i].cls);
        }
        free(sc->cmds);
        free(sc->filename);
        free(sc);
}

size_t scenario_count(const struct scenario *sc) {
        return sc->n;
}

static int push(struct scenario *sc, const struct cmd *c) {
        if (sc->n == sc->cap) {
                size_t cap = sc->cap ? sc->cap * 2 : 16;
                struct cmd *v = realloc(sc->cmds, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                sc->cmds = v;
                sc->cap = cap;
        }
        sc->cmds[sc->n++] = *c;
        return 0;
}

/* An optional count at tokens[i]; 1 when absent. */
static int parse_count(struct parser *p, struct token *t, size_t nt, size_t i, uint64_t *ret) {
        uint64_t v;

        if (i >= nt) {
                *ret = 1;
                return 0;
        }
        if (parse_u64(t[i].s, &v) < 0 || v == 0 || v > SCENARIO_MAX_COUNT)
                return fail_at(p, t[i].col, "expected a count from 1 to %u, got '%s'", SCENARIO_MAX_COUNT, t[i].s);
        *ret = v;
        return 0;
}

static int too_many(struct parser *p, struct token *t, size_t nt, size_t max) {
        if (nt > max)
                return fail_at(p, t[max].col, "unexpected '%s' after '%s' command", t[max].s, t[0].s);
        return 0;
}

/* memory level KEY=SIZE...: available, total, commit, limit; each at most
 * once, at least one.  Absent keys keep their value. */
static int parse_level(struct parser *p, struct token *t, size_t nt, struct cmd *c) {
        static const char *const keys[] = { "total", "available", "commit", "limit" };

        for (size_t k = 0; k < 4; k++)
                c->arg[k] = SIM_LEVEL_KEEP;
        if (nt < 3)
                return fail_at(p, t[1].col + 5, "expected available=SIZE, total=SIZE, commit=SIZE or limit=SIZE "
                                                "after 'memory level'");
        for (size_t i = 2; i < nt; i++) {
                const char *eq = strchr(t[i].s, '=');
                size_t k, klen = eq ? (size_t)(eq - t[i].s) : 0;
                uint64_t v;

                for (k = 0; k < 4; k++)
                        if (eq && strlen(keys[k]) == klen && strncmp(t[i].s, keys[k], klen) == 0)
                                break;
                if (k == 4)
                        return fail_at(p, t[i].col, "expected available=SIZE, total=SIZE, commit=SIZE or limit=SIZE, "
                                                    "got '%s'", t[i].s);
                if (c->arg[k] != SIM_LEVEL_KEEP)
                        return fail_at(p, t[i].col, "'%s' given twice", keys[k]);
                if (parse_size(eq + 1, &v) < 0 || v == SIM_LEVEL_KEEP)
                        return fail_at(p, t[i].col + (unsigned)klen + 1, "expected a size such as 300M, got '%s'",
                                       eq + 1);
                c->arg[k] = v;
        }
        return 0;
}

/* device add NAME CLASS [policy=1|2] [affinity=...] [drivers=N] [refuse=query-stop] [fail=stop] */
static int parse_device(struct parser *p, struct cmd *c, struct token *t, size_t nt, const char *raw) {
        static const char *const affinities[] = { "all", "spread", "one-per-cpu", "keep" };

        if (nt < 2 || strcmp(t[1].s, "add") != 0)
                return fail_at(p, nt < 2 ? (unsigned)strlen(raw) + 1 : t[1].col, "expected 'add' after 'device'");
        if (nt < 4)
                return fail_at(p, (unsigned)strlen(raw) + 1, "expected 'device add NAME CLASS' (CLASS e.g. Storage)");
        if (strlen(t[2].s) >= 64)
                return fail_at(p, t[2].col, "device name longer than 63 bytes");
        if (strlen(t[3].s) >= 64)
                return fail_at(p, t[3].col, "class name longer than 63 bytes");
        c->kind = CMD_DEVICE_ADD;
        c->dev.drivers = 3;
        for (size_t i = 4; i < nt; i++) {
                const char *v = strchr(t[i].s, '=');
                size_t k;

                if (!v)
                        return fail_at(p, t[i].col, "expected OPTION=VALUE, got '%s'", t[i].s);
                v++;
                if (strncmp(t[i].s, "policy=", 7) == 0) {
                        if (strcmp(v, "1") && strcmp(v, "2"))
                                return fail_at(p, t[i].col + 7, "expected policy=1 or policy=2, got '%s'", v);
                        c->dev.policy = v[0] - '0';
                } else if (strncmp(t[i].s, "affinity=", 9) == 0) {
                        for (k = 0; k < sizeof(affinities) / sizeof(affinities[0]); k++)
                                if (strcmp(v, affinities[k]) == 0)
                                        break;
                        if (k == sizeof(affinities) / sizeof(affinities[0]))
                                return fail_at(p, t[i].col + 9, "expected all, spread, one-per-cpu or keep, got '%s'",
                                               v);
                        c->dev.affinity = (int)k;
                } else if (strncmp(t[i].s, "drivers=", 8) == 0) {
                        if (strcmp(v, "1") && strcmp(v, "2") && strcmp(v, "3"))
                                return fail_at(p, t[i].col + 8, "expected drivers=1, 2 or 3, got '%s'", v);
                        c->dev.drivers = (uint32_t)(v[0] - '0');
                } else if (strncmp(t[i].s, "refuse=", 7) == 0) {
                        if (strcmp(v, "query-stop"))
                                return fail_at(p, t[i].col + 7, "expected refuse=query-stop, got '%s'", v);
                        c->dev.refuse_query_stop = true;
                } else if (strncmp(t[i].s, "fail=", 5) == 0) {
                        if (strcmp(v, "stop"))
                                return fail_at(p, t[i].col + 5, "expected fail=stop, got '%s'", v);
                        c->dev.fail_stop = true;
                } else {
                        return fail_at(p, t[i].col, "unknown option '%s' (expected policy, affinity, drivers, refuse or fail)",
                                       t[i].s);
                }
        }
        c->name = strdup(t[2].s);
        c->cls = strdup(t[3].s);
        if (!c->name || !c->cls) {
                free(c->name);
                free(c->cls);
                return -ENOMEM;
        }
        return 0;
}

/* memory thresholds KEY=VALUE...: the memory condition thresholds, checked
 * one by one here and as a whole when run (against the total then). */
static int parse_thresholds(struct parser *p, struct token *t, size_t nt, struct cmd *c) {
        struct memcond_config cfg = { 0 };
        struct strbuf sb = STRBUF_INIT;

        if (nt < 3)
                return fail_at(p, t[1].col + 10, "expected KEY=VALUE after 'memory thresholds' (low, high, "
                                                 "low_commit, high_commit, max_commit, interval, margin, "
                                                 "commit_margin)");
        for (size_t i = 2; i < nt; i++) {
                char key[32], *msg = NULL;
                const char *eq = strchr(t[i].s, '=');
                size_t klen = eq ? (size_t)(eq - t[i].s) : 0;

                if (!eq || klen == 0 || klen >= sizeof(key)) {
                        strbuf_deinit(&sb);
                        return fail_at(p, t[i].col, "expected KEY=VALUE, got '%s'", t[i].s);
                }
                memcpy(key, t[i].s, klen);
                key[klen] = 0;
                if (memcond_config_set(&cfg, key, eq + 1, &msg) < 0) {
                        int r = fail_at(p, t[i].col, "%s", msg ? msg : "bad threshold");
                        free(msg);
                        strbuf_deinit(&sb);
                        return r;
                }
                strbuf_printf(&sb, "%s%s", i > 2 ? "," : "", t[i].s);
        }
        if (sb.oom) {
                strbuf_deinit(&sb);
                return -ENOMEM;
        }
        c->text = strbuf_steal(&sb);
        return c->text ? 0 : -ENOMEM;
}

/* Tokenise LINE in place: whitespace separates, '#' at a token start
 * comments out the rest. */
static int tokenize(struct parser *p, char *line, struct token *t, size_t *ret_nt) {
        size_t nt = 0;
        char *s = line;

        for (;;) {
                while (*s == ' ' || *s == '\t' || *s == '\r')
                        s++;
                if (!*s || *s == '#')
                        break;
                if (nt == SCENARIO_MAX_TOKENS)
                        return fail_at(p, (unsigned)(s - line) + 1, "too many words (at most %d)",
                                       SCENARIO_MAX_TOKENS);
                t[nt].s = s;
                t[nt].col = (unsigned)(s - line) + 1;
                nt++;
                while (*s && *s != ' ' && *s != '\t' && *s != '\r')
                        s++;
                if (*s)
                        *s++ = 0;
                /* echo's text is the raw rest of the line, any number of
                 * words (parse_echo()). */
                if (nt == 1 && strcmp(t[0].s, "echo") == 0)
                        break;
        }
        *ret_nt = nt;
        return 0;
}

static int parse_errno(struct parser *p, struct token *t, uint64_t *ret) {
        for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
                if (strcmp(t->s, errnos[i].name) == 0) {
                        *ret = (uint64_t)errnos[i].err;
                        return 0;
                }
        return fail_at(p, t->col, "expected an error name such as EIO or EBUSY, got '%s'", t->s);
}

/* cpu remove INDEX [surprise] | memory remove NAME [surprise] */
static int parse_remove(struct parser *p, struct cmd *c, struct token *t, size_t nt, const char *raw, bool cpu) {
        int r;

        if (nt < 3)
                return fail_at(p, (unsigned)strlen(raw) + 1, cpu ? "expected a processor index after 'cpu remove'"
                                                                 : "expected a device name after 'memory remove' "
                                                                   "(e.g. memory@0x40000000)");
        c->kind = cpu ? CMD_CPU_REMOVE : CMD_MEMORY_REMOVE;
        if (cpu && (parse_u64(t[2].s, &c->arg[0]) < 0 || c->arg[0] > UINT32_MAX))
                return fail_at(p, t[2].col, "expected a processor index, got '%s'", t[2].s);
        if (!cpu && strlen(t[2].s) >= 64)
                return fail_at(p, t[2].col, "device name longer than 63 bytes");
        if (nt >= 4) {
                if (strcmp(t[3].s, "surprise") != 0)
                        return fail_at(p, t[3].col, "expected 'surprise' or nothing, got '%s'", t[3].s);
                c->arg[1] = 1;
        }
        if ((r = too_many(p, t, nt, 4)) < 0)
                return r;
        if (!cpu && !(c->name = strdup(t[2].s)))
                return -ENOMEM;
        return 0;
}

/* veto cpu|memory ERRNO [COUNT]: the next COUNT removal queries are vetoed
 * by a registration of the scenario's own. */
static int parse_veto(struct parser *p, struct cmd *c, struct token *t, size_t nt, const char *raw) {
        int r;

        if (nt < 2 || (strcmp(t[1].s, "cpu") && strcmp(t[1].s, "memory")))
                return fail_at(p, nt < 2 ? (unsigned)strlen(raw) + 1 : t[1].col, "expected 'cpu' or 'memory' after 'veto'");
        if (nt < 3)
                return fail_at(p, (unsigned)strlen(raw) + 1, "expected an error name after '%s' (e.g. EBUSY)", t[1].s);
        c->kind = CMD_VETO;
        c->arg[0] = strcmp(t[1].s, "cpu") == 0;
        if ((r = parse_errno(p, &t[2], &c->arg[1])) < 0 || (r = parse_count(p, t, nt, 3, &c->arg[2])) < 0 ||
            (r = too_many(p, t, nt, 4)) < 0)
                return r;
        return 0;
}

/* cpu add [N] | cpu online INDEX */
static int parse_cpu(struct parser *p, struct token *t, size_t nt, const char *raw, struct cmd *c) {
        int r;

        if (nt >= 2 && strcmp(t[1].s, "online") == 0) {
                /* cpu online INDEX: a new add transaction for a present
                 * processor whose add failed (dhp_proc_online()). */
                c->kind = CMD_CPU_ONLINE;
                if (nt < 3)
                        return fail_at(p, (unsigned)strlen(raw) + 1, "expected a processor index after 'cpu online'");
                if (parse_u64(t[2].s, &c->arg[0]) < 0 || c->arg[0] > UINT32_MAX)
                        return fail_at(p, t[2].col, "expected a processor index, got '%s'", t[2].s);
                return too_many(p, t, nt, 3);
        }
        if (nt >= 2 && strcmp(t[1].s, "remove") == 0)
                return parse_remove(p, c, t, nt, raw, true);
        if (nt < 2 || strcmp(t[1].s, "add") != 0)
                return fail_at(p, nt < 2 ? (unsigned)strlen(raw) + 1 : t[1].col,
                               "expected 'add', 'online' or 'remove' after 'cpu'%s%s%s", nt < 2 ? "" : ", got '",
                               nt < 2 ? "" : t[1].s, nt < 2 ? "" : "'");
        c->kind = CMD_CPU_ADD;
        if ((r = parse_count(p, t, nt, 2, &c->arg[0])) < 0 || (r = too_many(p, t, nt, 3)) < 0)
                return r;
        return 0;
}

/* memory level ... | memory thresholds ... | memory add SIZE [N] */
static int parse_memory(struct parser *p, struct token *t, size_t nt, const char *raw, struct cmd *c) {
        int r;

        if (nt >= 2 && strcmp(t[1].s, "level") == 0) {
                c->kind = CMD_MEMORY_LEVEL;
                return parse_level(p, t, nt, c);
        }
        if (nt >= 2 && strcmp(t[1].s, "thresholds") == 0) {
                c->kind = CMD_MEMORY_THRESHOLDS;
                return parse_thresholds(p, t, nt, c);
        }
        if (nt >= 2 && strcmp(t[1].s, "remove") == 0)
                return parse_remove(p, c, t, nt, raw, false);
        if (nt < 2 || strcmp(t[1].s, "add") != 0)
                return fail_at(p, nt < 2 ? (unsigned)strlen(raw) + 1 : t[1].col,
                               "expected 'add', 'remove', 'level' or 'thresholds' after 'memory'%s%s%s",
                               nt < 2 ? "" : ", got '", nt < 2 ? "" : t[1].s, nt < 2 ? "" : "'");
        if (nt < 3)
                return fail_at(p, (unsigned)strlen(raw) + 1, "expected a size after 'memory add' (e.g. 1G)");
        c->kind = CMD_MEMORY_ADD;
        if (parse_size(t[2].s, &c->arg[0]) < 0 || c->arg[0] == 0)
                return fail_at(p, t[2].col, "expected a size such as 256M or 1G, got '%s'", t[2].s);
        c->arg[2] = t[2].col; /* for scenario_check_sim(), which knows the block size */
        if ((r = parse_count(p, t, nt, 3, &c->arg[1])) < 0 || (r = too_many(p, t, nt, 4)) < 0)
                return r;
        return 0;
}

/* fail OP ERRNO [N] */
static int parse_fail(struct parser *p, struct token *t, size_t nt, const char *raw, struct cmd *c) {
        size_t i;
        int r;

        if (nt < 2)
                return fail_at(p, (unsigned)strlen(raw) + 1,
                               "expected an operation after 'fail' (cpu-start, cpu-admit, cpu-stop, block-online, "
                               "cpu-offline, block-offline)");
        for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
                if (strcmp(t[1].s, ops[i].name) == 0)
                        break;
        if (i == sizeof(ops) / sizeof(ops[0]))
                return fail_at(p, t[1].col,
                               "expected cpu-start, cpu-admit, cpu-stop, block-online, cpu-offline or block-offline, "
                               "got '%s'", t[1].s);
        c->arg[0] = ops[i].op;
        if (nt < 3)
                return fail_at(p, (unsigned)strlen(raw) + 1, "expected an error name after '%s' (e.g. EIO)", t[1].s);
        for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
                if (strcmp(t[2].s, errnos[i].name) == 0)
                        break;
        if (i == sizeof(errnos) / sizeof(errnos[0]))
                return fail_at(p, t[2].col, "expected an error name such as EIO or EBUSY, got '%s'", t[2].s);
        c->arg[1] = (uint64_t)errnos[i].err;
        c->kind = CMD_FAIL;
        if ((r = parse_count(p, t, nt, 3, &c->arg[2])) < 0 || (r = too_many(p, t, nt, 4)) < 0)
                return r;
        return 0;
}

/* echo TEXT: the rest of the raw line, comments and spacing kept. */
static int parse_echo(struct parser *p, const struct token *t, const char *raw, struct cmd *c) {
        const char *text = raw + (t[0].col - 1) + 4;
        size_t len;

        while (*text == ' ' || *text == '\t')
                text++;
        len = strcspn(text, "\r");
        if (len > SCENARIO_ECHO_MAX)
                return fail_at(p, (unsigned)(text - raw) + 1, "echo: the note is %zu bytes long, at most %u are carried",
                               len, SCENARIO_ECHO_MAX);
        c->kind = CMD_ECHO;
        c->text = strndup(text, len);
        return c->text ? 0 : -ENOMEM;
}

/* optout CLASS yes|no */
static int parse_optout(struct parser *p, struct token *t, size_t nt, const char *raw, struct cmd *c) {
        int r;

        if (nt < 3)
                return fail_at(p, (unsigned)strlen(raw) + 1, "expected 'optout CLASS yes|no'");
        if (strlen(t[1].s) >= 64)
                return fail_at(p, t[1].col, "class name longer than 63 bytes");
        if (strcmp(t[2].s, "yes") != 0 && strcmp(t[2].s, "no") != 0)
                return fail_at(p, t[2].col, "expected yes or no, got '%s'", t[2].s);
        if ((r = too_many(p, t, nt, 3)) < 0)
                return r;
        c->kind = CMD_OPTOUT;
        c->arg[0] = strcmp(t[2].s, "yes") == 0;
        c->cls = strdup(t[1].s);
        return c->cls ? 0 : -ENOMEM;
}

static int parse_line(struct parser *p, struct scenario *sc, char *line, const char *raw) {
        struct token t[SCENARIO_MAX_TOKENS];
        struct cmd c = { .line = p->line };
        size_t nt = 0;
        int r;

        r = tokenize(p, line, t, &nt);
        if (r < 0 || nt == 0)
                return r;

        if (strcmp(t[0].s, "cpu") == 0)
                r = parse_cpu(p, t, nt, raw, &c);
        else if (strcmp(t[0].s, "memory") == 0)
                r = parse_memory(p, t, nt, raw, &c);
        else if (strcmp(t[0].s, "fail") == 0)
                r = parse_fail(p, t, nt, raw, &c);
        else if (strcmp(t[0].s, "veto") == 0)
                r = parse_veto(p, &c, t, nt, raw);
        else if (strcmp(t[0].s, "settle") == 0) {
                c.kind = CMD_SETTLE;
                r = too_many(p, t, nt, 1);
        } else if (strcmp(t[0].s, "echo") == 0)
                r = parse_echo(p, t, raw, &c);
        else if (strcmp(t[0].s, "device") == 0)
                r = parse_device(p, &c, t, nt, raw);
        else if (strcmp(t[0].s, "optout") == 0)
                r = parse_optout(p, t, nt, raw, &c);
        else
                r = fail_at(p, t[0].col,
                            "unknown command '%s' (expected cpu, memory, fail, veto, settle, echo, device or optout)",
                            t[0].s);
        if (r < 0)
                return r; /* each parser frees what it allocated */
        r = push(sc, &c);
        if (r < 0) {
                free(c.text);
                free(c.name);
                free(c.cls);
        }
        return r;
}

int scenario_parse(const char *filename, const char *text, struct scenario **ret, char **ret_error) {
        struct parser p = { .filename = filename ? filename : "<scenario>", .error = ret_error };
        struct scenario *sc;
        const char *s = text;
        int r = 0;

        if (!text || !ret)
                return -EINVAL;
        sc = calloc(1, sizeof(*sc));
        if (!sc)
                return -ENOMEM;
        sc->filename = strdup(p.filename);
        if (!sc->filename) {
                free(sc);
                return -ENOMEM;
        }
        while (*s) {
                char line[SCENARIO_MAX_LINE + 1], raw[SCENARIO_MAX_LINE + 1];
                size_t len = strcspn(s, "\n");

                p.line++;
                if (len > SCENARIO_MAX_LINE) {
                        r = fail_at(&p, SCENARIO_MAX_LINE + 1, "line longer than %d bytes", SCENARIO_MAX_LINE);
                        break;
                }
                memcpy(line, s, len);
                line[len] = 0;
                if (strlen(line) != len) {
                        r = fail_at(&p, (unsigned)strlen(line) + 1, "NUL byte in line");
                        break;
                }
                memcpy(raw, line, len + 1);
                r = parse_line(&p, sc, line, raw);
                if (r < 0)
                        break;
                s += len;
                if (*s == '\n')
                        s++;
        }
        if (r < 0) {
                scenario_free(sc);
                return r;
        }
        *ret = sc;
        return 0;
}

static int run_error(struct scenario *sc, const struct cmd *c, char **ret_error, int r, const char *what) {
        if (ret_error) {
                struct strbuf sb = STRBUF_INIT;
                strbuf_printf(&sb, "%s:%u: %s: %s", sc->filename, c->line, what, strerror(-r));
                *ret_error = strbuf_steal(&sb);
        }
        return r;
}

static int run_thresholds(struct scenario *sc, const struct cmd *c, struct sim *sim, char **ret_error) {
        char *msg = NULL;
        int r;

        r = memcond_configure_spec(sim_engine(sim), c->text, &msg);
        if (r < 0 && ret_error) {
                struct strbuf sb = STRBUF_INIT;
                strbuf_printf(&sb, "%s:%u: memory thresholds: %s", sc->filename, c->line, msg ? msg : strerror(-r));
                *ret_error = strbuf_steal(&sb);
        }
        free(msg);
        return r < 0 ? r : 0;
}

/* What only the partition decides, checked before the first line runs so
 * that a bad line runs nothing: each memory add a multiple of the block
 * size (the words of `dhpctl sim memory add`). */
static int scenario_check_sim(struct scenario *sc, struct sim *sim, char **ret_error) {
        uint64_t block = engine_mem_block_size(sim_engine(sim));

        for (size_t i = 0; i < sc->n; i++) {
                const struct cmd *c = &sc->cmds[i];

                if (c->kind != CMD_MEMORY_ADD || !block || c->arg[0] % block == 0)
                        continue;
                if (ret_error) {
                        struct strbuf sb = STRBUF_INIT;
                        strbuf_printf(&sb, "%s:%u:%u: memory add: %llu MiB is not a multiple of the %llu MiB block size",
                                      sc->filename, c->line, (unsigned)c->arg[2],
                                      (unsigned long long)(c->arg[0] >> 20), (unsigned long long)(block >> 20));
                        *ret_error = strbuf_steal(&sb);
                }
                return -EINVAL;
        }
        return 0;
}

/* The scenario's own vetoer (veto cpu|memory): registrations that opted in
 * to removal queries and veto the next `left` of them. */
struct vetoer {
        int error;
        unsigned left;
        dhp_proc_reg *proc;
        dhp_arrival_reg *mem;
};

static void vetoer_proc(void *userdata, const dhp_proc_change *c) {
        struct vetoer *v = userdata;

        if (dhp_proc_change_get_state(c) == DHP_PROC_REMOVE_QUERY && v->left > 0) {
                v->left--;
                dhp_proc_change_veto(c, v->error);
        }
}

static void vetoer_mem(void *userdata, const dhp_device_event *e) {
        struct vetoer *v = userdata;

        if (dhp_device_event_get_event(e) == DHP_EVENT_QUERY_REMOVE && v->left > 0) {
                v->left--;
                dhp_device_event_veto(e, v->error);
        }
}

static int vetoer_arm(struct vetoer *v, struct sim *sim, bool cpu, int error, unsigned count) {
        v->error = error;
        v->left = count;
        if (cpu && !v->proc)
                return procnotify_register(sim_engine(sim), "scenario-veto", DHP_PROC_QUERY_REMOVE, vetoer_proc, v,
                                           &v->proc);
        if (!cpu && !v->mem)
                return arrival_register(sim_engine(sim), "scenario-veto", DHP_CLASS_MEMORY, DHP_ARRIVAL_QUERY_REMOVE,
                                        vetoer_mem, v, &v->mem);
        return 0;
}

/* cpu remove, memory remove, veto */
static int run_remove(struct scenario *sc, const struct cmd *c, struct sim *sim, struct vetoer *vcpu,
                      struct vetoer *vmem, char **ret_error) {
        int r, status = 0;

        if (c->kind == CMD_VETO) {
                r = vetoer_arm(c->arg[0] ? vcpu : vmem, sim, c->arg[0], -(int)c->arg[1], (unsigned)c->arg[2]);
                return r < 0 ? run_error(sc, c, ret_error, r, "veto") : 0;
        }
        if (c->kind == CMD_CPU_REMOVE)
                r = c->arg[1] ? sim_cpu_surprise_remove(sim, (uint32_t)c->arg[0])
                              : sim_cpu_remove(sim, (uint32_t)c->arg[0], &status);
        else
                r = c->arg[1] ? sim_memory_surprise_remove(sim, c->name) : sim_memory_remove(sim, c->name, &status);
        /* 1 is a vetoed removal or a refused offline: an outcome the stream
         * reports, as a vetoed add is. */
        if (r < 0)
                return run_error(sc, c, ret_error, r, c->kind == CMD_CPU_REMOVE ? "cpu remove" : "memory remove");
        return 0;
}

static int scenario_run_cmds(struct scenario *sc, struct sim *sim, const struct scenario_hooks *hooks,
                             struct vetoer *vcpu, struct vetoer *vmem, char **ret_error);

int scenario_run(struct scenario *sc, struct sim *sim, const struct scenario_hooks *hooks, char **ret_error) {
        struct vetoer vcpu = { 0 }, vmem = { 0 };
        int r = scenario_run_cmds(sc, sim, hooks, &vcpu, &vmem, ret_error);

        procnotify_deregister(vcpu.proc);
        arrival_unregister(vmem.mem);
        return r;
}

static int scenario_run_cmds(struct scenario *sc, struct sim *sim, const struct scenario_hooks *hooks,
                             struct vetoer *vcpu, struct vetoer *vmem, char **ret_error) {
        int r;

        r = scenario_check_sim(sc, sim, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < sc->n; i++) {
                const struct cmd *c = &sc->cmds[i];

                switch (c->kind) {
                case CMD_CPU_REMOVE: case CMD_MEMORY_REMOVE: case CMD_VETO:
                        if ((r = run_remove(sc, c, sim, vcpu, vmem, ret_error)) < 0)
                                return r;
                        break;
                case CMD_CPU_ADD:
                        for (uint64_t k = 0; k < c->arg[0]; k++) {
                                r = sim_cpu_add(sim, NULL);
                                /* 1 is a vetoed add, a negative errno a platform failure
                                 * to start it: both are outcomes the stream reports. */
                                if (r == -ENOSPC || r == -ENOMEM)
                                        return run_error(sc, c, ret_error, r, "cpu add");
                        }
                        break;
                case CMD_CPU_ONLINE:
                        r = sim_cpu_retry(sim, (uint32_t)c->arg[0], NULL);
                        /* 1 (vetoed again) is an outcome the stream reports;
                         * a processor that is not there to retry is an error
                         * in the scenario. */
                        if (r == -ENODEV || r == -EALREADY || r == -ERANGE || r == -ENOMEM)
                                return run_error(sc, c, ret_error, r, "cpu online");
                        break;
                case CMD_MEMORY_ADD:
                        for (uint64_t k = 0; k < c->arg[1]; k++) {
                                r = sim_memory_add(sim, c->arg[0], NULL);
                                if (r == -ENOSPC || r == -ENOMEM || r == -EINVAL)
                                        return run_error(sc, c, ret_error, r, "memory add");
                        }
                        break;
                case CMD_FAIL:
                        r = sim_inject_failure(sim, (enum sim_op)c->arg[0], -(int)c->arg[1], (unsigned)c->arg[2]);
                        if (r < 0)
                                return run_error(sc, c, ret_error, r, "fail");
                        break;
                case CMD_SETTLE:
                        if (hooks && hooks->settle) {
                                r = hooks->settle(hooks->userdata);
                                if (r < 0)
                                        return run_error(sc, c, ret_error, r, "settle");
                        }
                        break;
                case CMD_ECHO:
                        if (hooks && hooks->note)
                                hooks->note(hooks->userdata, c->text);
                        break;
                case CMD_MEMORY_LEVEL:
                        r = sim_mem_levels_set(sim, c->arg[0], c->arg[1], c->arg[2], c->arg[3], true);
                        if (r < 0)
                                return run_error(sc, c, ret_error, r, "memory level (available above total?)");
                        break;
                case CMD_MEMORY_THRESHOLDS:
                        r = run_thresholds(sc, c, sim, ret_error);
                        if (r < 0)
                                return r;
                        break;
                case CMD_DEVICE_ADD: {
                        struct simdev_config cfg = c->dev;
                        cfg.name = c->name;
                        cfg.setup_class = c->cls;
                        r = hooks && hooks->device_add ? hooks->device_add(hooks->userdata, &cfg) : -EOPNOTSUPP;
                        if (r < 0)
                                return run_error(sc, c, ret_error, r, "device add");
                        break;
                }
                case CMD_OPTOUT:
                        r = hooks && hooks->class_optout ? hooks->class_optout(hooks->userdata, c->cls, c->arg[0])
                                                         : -EOPNOTSUPP;
                        if (r < 0)
                                return run_error(sc, c, ret_error, r, "optout");
                        break;
                }
        }
        return 0;
}
