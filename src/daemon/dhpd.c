/* SPDX-License-Identifier: MIT */
/*
 * dhpd: the agent that onlines hot-added processors and memory and runs
 * the notifications, in the order of doc/model.md (R30, R31; L1).
 *
 * Threads:
 *   main      signals (signalfd) and the IPC socket; never waits for a
 *             client.
 *   notify    the engine's asynchronous queue: arrival deliveries,
 *             memory condition re-evaluations and rebalances, whose
 *             client drivers wait for answers the main thread reads.
 *   hotplug   the platform: kernel uevents, resyncs, and the transactions
 *             they start (synchronous callbacks run here).
 * A transaction blocking on a slow client never stalls signal handling or
 * the delivery of notifications already queued.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/memcond.h"
#include "core/rebalance.h"
#include "daemon/config.h"
#include "daemon/detach.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/options.h"
#include "daemon/server.h"
#include "daemon/statefile.h"
#include "platform/linux/coexist.h"
#include "platform/linux/hotplug.h"
#include "platform/linux/irqshare.h"
#include "platform/linux/kdev.h"
#include "platform/linux/meminfo.h"
#include "platform/linux/linux.h"
#include "platform/sim/scenario.h"
#include "platform/sim/sim.h"
#include "util/macro.h"
#include "util/time.h"
#include "util/wakefd.h"

struct daemon {
        struct options opt;
        struct config cfg;
        struct daemon_log dlog;
        struct logger log;
        struct engine *engine;
        struct linux_platform *lp;
        struct sim *sim;
        struct rebalance *rb;
        struct kdevs *kdevs;
        int psi_fd; /* memory pressure trigger, or -1 */
        dhp_monitor *mon;
        dhp_arrival_reg *arr_log[2];
        struct server *server;
        struct statefile *sf;
        int wake_fd;  /* the engine has queued work */
        struct linux_hotplug *hp; /* uevents and the transactions they start */
        /* A reloaded configuration for the hotplug thread to apply (it alone
         * runs the platform's transactions). */
        pthread_mutex_t reload_lock;
        struct config reload_cfg;
        bool reload_pending;
        int nt_stop; /* tells the notification thread to stop */
        pthread_t nt_thread;
        /* The notification thread starts with the first queued work once
         * clients are served (nt_allowed): an idle dhpd nobody has
         * notified anything keeps no stack for it. */
        pthread_mutex_t nt_lock;
        bool nt_allowed, nt_running, nt_failed;
        int ready_fd; /* detached: the readiness pipe to the waiting parent, or -1 */
};

static int load_config(struct daemon *d, struct config *c) {
        char *err = NULL;
        int r;

        config_defaults(c);
        r = config_load(c, d->opt.config, &err);
        if (r == -ENOENT && !d->opt.config_given) {
                free(err);
                return 0; /* no default file: every default applies */
        }
        if (r < 0) {
                log_error(&d->log, "%s", err ? err : strerror(-r));
                free(err);
        }
        return r;
}

static void log_changed_key(void *userdata, const char *section, const char *key, const char *old_value,
                            const char *new_value, enum config_apply when) {
        struct daemon *d = userdata;

        log_notice(&d->log, "SIGHUP: [%s] %s: '%s' -> '%s' (%s)", section, key, old_value, new_value,
                   when == CONFIG_APPLY_RELOAD ? "applied" : "applies at restart");
}

static void *notify_thread(void *userdata);

/* Any thread, maybe under the engine's locks: nothing here calls it. */
static void notify_thread_ensure(struct daemon *d) {
        bool failed = false;
        int r;

        pthread_mutex_lock(&d->nt_lock);
        if (d->nt_allowed && !d->nt_running) {
                r = pthread_create(&d->nt_thread, NULL, notify_thread, d);
                d->nt_running = r == 0;
                /* Reported once; the next work tries again. */
                failed = r != 0 && !d->nt_failed;
                d->nt_failed = r != 0;
        }
        pthread_mutex_unlock(&d->nt_lock);
        if (failed)
                log_error(&d->log, "cannot start the notification thread; notifications wait for the next try");
}

static void engine_wake(void *userdata) {
        struct daemon *d = userdata;

        wakefd_signal(d->wake_fd);
        notify_thread_ensure(d);
}

static void report_coexistence(struct daemon *d) {
        struct coexist_report rep = { 0 };
        int r;

        /* In kernel mode dhpd sets the kernel's memory policy itself. */
        r = coexist_scan_flags(d->opt.root,
                               d->cfg.mem_online && d->cfg.mem_onlining == CONFIG_ONLINING_KERNEL
                                       ? COEXIST_KERNEL_ONLINES_MEMORY : 0,
                               &rep, &d->log);
        if (r < 0) {
                log_warning(&d->log, "cannot check for other onliners: %s", strerror(-r));
                return;
        }
        for (size_t i = 0; i < rep.n; i++) {
                const struct coexist_finding *f = &rep.findings[i];
                log_warning(&d->log, "another agent onlines hot-added hardware: %s%s%.0u: %s", f->path,
                            f->line ? ":" : "", f->line, f->message);
                log_warning(&d->log, "  to leave it to dhpd: %s", f->fix);
        }
        if (rep.n)
                log_warning(&d->log, "%zu conflicting onliner(s): what they online still gets its notifications, "
                            "flagged late", rep.n);
        coexist_report_deinit(&rep);
}

/*
 * Fault injection for the crash-recovery tests (tests/daemon/test-faults.py),
 * never documented as a feature: DHP_FAULT_KILL_AT=before:N or after:N makes
 * dhpd SIGKILL itself right before or right after its Nth sysfs write
 * (retries count), i.e. at a chosen step of a processor or memory
 * transaction.  Parsed once at start; anything malformed disables it.
 */
struct fault_writer {
        struct logger *log;
        unsigned n, at;
        bool after;
};

static struct fault_writer fault;

static int fault_write(void *userdata, const char *path, const char *value, size_t len) {
        struct fault_writer *f = userdata;
        int r;

        f->n++;
        if (!f->after && f->n == f->at) {
                log_notice(f->log, "fault injection: SIGKILL before write %u (%s = %.*s)", f->n, path, (int)len, value);
                raise(SIGKILL);
        }
        r = sysfs_write_file(NULL, path, value, len);
        if (f->after && f->n == f->at) {
                log_notice(f->log, "fault injection: SIGKILL after write %u (%s = %.*s)", f->n, path, (int)len, value);
                raise(SIGKILL);
        }
        return r;
}

static const struct sysfs_writer *fault_writer_from_env(struct logger *log) {
        static struct sysfs_writer w;
        const char *s = getenv("DHP_FAULT_KILL_AT");
        char *end;
        unsigned long n;

        if (!s)
                return NULL;
        if (strncmp(s, "before:", 7) == 0)
                fault.after = false;
        else if (strncmp(s, "after:", 6) == 0)
                fault.after = true;
        else
                return NULL;
        s = strchr(s, ':') + 1;
        errno = 0;
        n = strtoul(s, &end, 10);
        if (errno || *end || n == 0 || n > 1000000)
                return NULL;
        fault.at = (unsigned)n;
        fault.log = log;
        w = (struct sysfs_writer){ .write = fault_write, .userdata = &fault };
        log_notice(log, "fault injection armed: SIGKILL %s write %u", fault.after ? "after" : "before", fault.at);
        return &w;
}

static void linux_config_from(struct linux_config *lc, const struct config *c, const struct options *o) {
        linux_config_defaults(lc);
        lc->root = o->root;
        lc->cpu_online = c->cpu_online;
        lc->veto_keep_online = c->cpu_on_veto == CONFIG_VETO_KEEP_ONLINE;
        lc->mem_online = c->mem_online;
        lc->mem_policy = c->mem_online_policy == CONFIG_MEM_MOVABLE  ? LINUX_MEM_MOVABLE
                         : c->mem_online_policy == CONFIG_MEM_KERNEL ? LINUX_MEM_KERNEL
                                                                     : LINUX_MEM_AUTO;
        lc->mem_onlining = c->mem_onlining == CONFIG_ONLINING_DHPD ? LINUX_ONLINING_DHPD : LINUX_ONLINING_KERNEL;
        lc->kernel_online_wait_ns = c->kernel_online_wait_ns;
        lc->auto_movable_ratio = c->auto_movable_ratio;
        lc->retry_attempts = c->retry_attempts;
        lc->retry_max_ns = c->retry_max_ns;
        for (unsigned i = 0; i < c->ncgroups && i < LINUX_MAX_CGROUPS; i++)
                lc->cgroups[i] = c->cgroups[i];
        lc->ncgroups = c->ncgroups;
        lc->uevent_fd = o->uevent_fd;
        lc->state_dir = "/run/dhp"; /* under --root */
}

/* On the hotplug thread, at SIGHUP: it alone runs the platform's
 * transactions, so it applies a reloaded configuration (then resyncs). */
static void apply_reload(void *userdata) {
        struct daemon *d = userdata;
        struct config c;
        bool apply;

        pthread_mutex_lock(&d->reload_lock);
        apply = d->reload_pending;
        if (apply)
                c = d->reload_cfg;
        d->reload_pending = false;
        pthread_mutex_unlock(&d->reload_lock);
        if (apply) {
                struct linux_config lc;
                linux_config_from(&lc, &c, &d->opt);
                if (linux_platform_reconfigure(d->lp, &lc) < 0)
                        log_error(&d->log, "cannot apply the reloaded policies; the running ones stay");
                else
                        log_notice(&d->log, "onlining policies and managed cgroups reloaded");
        }
}

/* Memory condition thresholds and the fallback interval from dhpd.conf. */
static int setup_memcond(struct daemon *d) {
        char spec[CONFIG_MEMCOND_SPEC_MAX], *err = NULL;
        int r;

        r = config_memcond_spec(&d->cfg, spec, sizeof(spec));
        if (r == 0)
                r = memcond_configure_spec(d->engine, spec, &err);
        if (r < 0)
                log_error(&d->log, "%s: memory thresholds: %s", d->opt.config, err ? err : strerror(-r));
        free(err);
        return r;
}

static void setup_psi(struct daemon *d) {
        int r;

        /* d->cfg.psi was checked by config_psi_parse() with the file. */
        r = meminfo_psi_open(d->opt.root, d->cfg.psi.full, d->cfg.psi.stall_us, d->cfg.psi.window_us, &d->psi_fd);
        if (r == -EOPNOTSUPP)
                log_info(&d->log, "no PSI on this kernel; memory levels are re-read at memory changes and every %llus",
                         (unsigned long long)(d->cfg.poll_interval_ns / NSEC_PER_SEC));
        else if (r < 0)
                log_warning(&d->log, "cannot open the PSI memory trigger: %s", strerror(-r));
}

/* Arrivals are delivered to subscribers only, so with no client the log
 * would not show them.  dhpd subscribes itself (this no-op) to both
 * classes: every arrival is in the log as "async ARRIVAL ... -> dhpd",
 * after the ONLINE record of the device's last block. */
static void arrival_logged(void *userdata, const dhp_device_event *ev) {
}

static int setup_platform(struct daemon *d) {
        int r;

        if (strcmp(d->opt.platform, "sim") == 0) {
                struct sim_config sc = SIM_CONFIG_DEFAULT;
                char err[256] = "";
                if (d->opt.sim_options && sim_config_parse_err(&sc, d->opt.sim_options, err, sizeof(err)) < 0) {
                        log_error(&d->log, "--sim: bad options '%s': %s (cpus=N,maxcpus=N,memory=SIZE,block=SIZE,"
                                  "maxmem=SIZE)", d->opt.sim_options, err[0] ? err : "invalid");
                        return -EINVAL;
                }
                r = sim_new(&d->sim, &sc);
                if (r < 0)
                        return r;
                d->engine = sim_engine(d->sim);
                engine_set_logger(d->engine, &d->log);
        } else {
                struct linux_config lc;
                if (geteuid() != 0 && !d->opt.root[0])
                        log_warning(&d->log, "not running as root: onlining will fail with permission errors");
                report_coexistence(d);
                if (d->opt.take_over && d->cfg.mem_onlining == CONFIG_ONLINING_KERNEL)
                        log_notice(&d->log, "--take-over: nothing to take over, dhpd sets the kernel's memory "
                                   "onlining policy itself ([memory] onlining = kernel)");
                else if (d->opt.take_over) {
                        unsigned attempts;
                        r = coexist_take_over(NULL, d->opt.root, &attempts);
                        if (r < 0)
                                log_error(&d->log, "--take-over: cannot write auto_online_blocks: %s", strerror(-r));
                        else
                                log_notice(&d->log, "took over memory onlining: auto_online_blocks = offline");
                }
                linux_config_from(&lc, &d->cfg, &d->opt);
                lc.writer = fault_writer_from_env(&d->log);
                r = linux_platform_new(&d->lp, &lc, &d->log);
                if (r < 0)
                        return r;
                d->engine = linux_platform_engine(d->lp);
        }
        r = setup_memcond(d);
        if (r < 0)
                return r;
        r = rebalance_new(d->engine, &d->rb);
        if (r < 0)
                return r;
        if (d->lp && d->cfg.rebalance) {
                struct kdev_policy pol[CONFIG_MAX_DEVICE_POLICIES];
                enum irqshare_mode mode = d->cfg.irqbalance == CONFIG_IRQBALANCE_SHARE    ? IRQSHARE_SHARE
                                          : d->cfg.irqbalance == CONFIG_IRQBALANCE_IGNORE ? IRQSHARE_IGNORE
                                                                                          : IRQSHARE_LEAVE;
                for (unsigned i = 0; i < d->cfg.ndevices; i++)
                        pol[i] = (struct kdev_policy){ .match = d->cfg.devices[i].match,
                                                       .policy = d->cfg.devices[i].policy };
                /* Kernel devices' interrupts: dhpd's, irqbalance's, or shared. */
                r = irqshare_setup(&d->kdevs, d->rb, d->opt.root, mode, pol, d->cfg.ndevices, &d->log);
                if (r < 0)
                        log_warning(&d->log, "kernel devices are not rebalanced: %s", strerror(-r));
        }
        if (d->lp)
                setup_psi(d);
        engine_set_default_name(d->engine, "dhpd");
        engine_set_wake(d->engine, engine_wake, d);
        /* The stream to the log (engine_record_log): at info one line per
         * event, dhpd's own arrival registrations' (observers: delivered
         * after every client's), per-client records at debug. */
        r = engine_monitor_add(d->engine, engine_record_log, &d->log, &d->mon);
        if (r >= 0)
                r = arrival_register_observer(d->engine, ENGINE_SELF_NAME, DHP_CLASS_PROCESSOR, arrival_logged, d,
                                              &d->arr_log[0]);
        if (r >= 0)
                r = arrival_register_observer(d->engine, ENGINE_SELF_NAME, DHP_CLASS_MEMORY, arrival_logged, d,
                                              &d->arr_log[1]);
        return r;
}

static int run_scenario(struct daemon *d) {
        struct scenario *sc = NULL;
        char *text = NULL, *err = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        f = fopen(d->opt.scenario, "re");
        if (!f) {
                log_error(&d->log, "%s: %s", d->opt.scenario, strerror(errno));
                return -errno;
        }
        r = getdelim(&text, &len, 0, f) < 0 ? -EIO : 0;
        fclose(f);
        if (r == 0)
                r = scenario_parse(d->opt.scenario, text, &sc, &err);
        if (r == 0)
                r = scenario_run(sc, d->sim, NULL, &err);
        if (r < 0)
                log_error(&d->log, "%s", err ? err : strerror(-r));
        scenario_free(sc);
        free(text);
        free(err);
        return r;
}

/* The engine's asynchronous queue, off the main thread: a rebalance of a
 * client's device waits for that client's answers, which main reads. */
static void *notify_thread(void *userdata) {
        struct daemon *d = userdata;
        struct pollfd p[2] = {
                { .fd = d->wake_fd, .events = POLLIN },
                { .fd = d->nt_stop, .events = POLLIN },
        };

        for (;;) {
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error(&d->log, "notification thread: poll: %s", strerror(errno));
                        break;
                }
                if (p[1].revents)
                        break;
                if (p[0].revents) {
                        wakefd_drain(d->wake_fd);
                        engine_dispatch(d->engine);
                }
        }
        return NULL;
}

/* CPU_ONLINE on Linux: the transaction runs on the hotplug thread, which
 * alone runs the platform's, and answers from there. */
struct cpu_online_work {
        struct linux_hotplug_work w; /* first: the work leads here */
        struct linux_platform *lp;
        struct server_cpu_online *req;
        uint32_t index;
};

static void cpu_online_run(struct linux_hotplug_work *w, bool cancelled) {
        struct cpu_online_work *o = (struct cpu_online_work *)w;
        int r, status = 0;

        r = cancelled ? -ESHUTDOWN : linux_platform_cpu_online(o->lp, o->index, &status);
        server_cpu_online_done(o->req, r, status);
        free(o);
}

static void cpu_online_request(void *userdata, struct server_cpu_online *req, uint32_t index) {
        struct daemon *d = userdata;
        struct cpu_online_work *o = calloc(1, sizeof(*o));

        if (!o) {
                server_cpu_online_done(req, -ENOMEM, 0);
                return;
        }
        *o = (struct cpu_online_work){ .w.fn = cpu_online_run, .lp = d->lp, .req = req, .index = index };
        linux_hotplug_submit(d->hp, &o->w);
}

static int setup_server(struct daemon *d) {
        struct server_config sc = SERVER_CONFIG_DEFAULT;
        int r;

        sc.socket_path = d->opt.socket_path ? d->opt.socket_path : d->cfg.socket_path;
        sc.group = d->cfg.group;
        sc.max_clients = d->cfg.max_clients;
        sc.max_clients_per_uid = d->cfg.max_clients_per_uid;
        sc.deadline_ns = d->cfg.deadline_ns;
        sc.late_veto = d->cfg.late_policy == CONFIG_LATE_VETO;
        sc.rebalance = d->sim ? d->rb : NULL; /* the sim's devices, for `dhpctl sim run` */
        r = server_new(&d->server, d->engine, d->sim, &sc, &d->log);
        if (r < 0)
                return r;
        server_set_rebalance(d->server, d->rb);
        if (d->hp)
                server_set_cpu_online(d->server, cpu_online_request, d);
        /* Work queued before (the start-up resync's) starts the thread now;
         * later work starts it when it comes. */
        pthread_mutex_lock(&d->nt_lock);
        d->nt_allowed = true;
        pthread_mutex_unlock(&d->nt_lock);
        if (poll(&(struct pollfd){ .fd = d->wake_fd, .events = POLLIN }, 1, 0) > 0)
                notify_thread_ensure(d);
        return rebalance_lane_start(d->rb);
}

/* SIGHUP.  Out of line: its configuration (8 KiB) is on the stack only
 * while a reload runs, not under the main loop for dhpd's whole life. */
static __attribute__((noinline)) void reload(struct daemon *d) {
        struct config c;

        log_notice(&d->log, "SIGHUP: reloading %s", d->opt.config);
        notify_send("RELOADING=1");
        if (load_config(d, &c) == 0) {
                /* Thresholds a client set stay unless the file's changed. */
                bool mc = c.low_threshold != d->cfg.low_threshold || c.high_threshold != d->cfg.high_threshold ||
                          c.poll_interval_ns != d->cfg.poll_interval_ns;
                config_diff(&d->cfg, &c, log_changed_key, d);
                d->cfg = c;
                if (mc)
                        setup_memcond(d);
                d->dlog.max_level = d->opt.log_level ? d->opt.log_level : c.log_level;
                engine_set_sync_deadline(d->engine, c.deadline_ns, c.late_policy == CONFIG_LATE_VETO);
                pthread_mutex_lock(&d->reload_lock);
                d->reload_cfg = c;
                d->reload_pending = true;
                pthread_mutex_unlock(&d->reload_lock);
                log_notice(&d->log, "configuration reloaded (the socket, its group and the platform apply at restart)");
        } else {
                log_error(&d->log, "configuration not reloaded; the running one stays");
        }
        if (d->hp)
                linux_hotplug_kick(d->hp);
        notify_send("READY=1");
}

static int main_loop(struct daemon *d, int sfd) {
        struct pollfd p[3] = {
                { .fd = sfd, .events = POLLIN },
                { .fd = -1, .events = POLLIN }, /* the queue: the notification thread's */
                { .fd = server_get_fd(d->server), .events = POLLIN },
        };

        for (;;) {
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p[2].revents)
                        server_process(d->server);
                if (p[0].revents) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof(si)) != sizeof(si))
                                continue;
                        if (si.ssi_signo == SIGHUP) {
                                reload(d);
                                continue;
                        }
                        log_notice(&d->log, "%s: shutting down", strsignal((int)si.ssi_signo));
                        notify_send("STOPPING=1");
                        return 0;
                }
        }
}

/* Ready: the socket listens.  To systemd (Type=notify), to the parent
 * waiting for a detached dhpd, or on stdout for scripts and tests that run
 * dhpd --foreground themselves.  From here on the log goes where it is
 * configured; until here it went to stderr, so that an error before
 * readiness reached whoever started dhpd. */
static void announce_ready(struct daemon *d) {
        bool detached = d->ready_fd >= 0;

        if (notify_enabled())
                notify_send("READY=1\nSTATUS=watching for hot-added processors and memory");
        else if (!detached) {
                /* One write, not stdio: no stdout buffer kept for life. */
                if (write(STDOUT_FILENO, "READY\n", 6) != 6)
                        log_warning(&d->log, "cannot say READY on stdout: %s", strerror(errno));
        }
        if (d->cfg.log_target == CONFIG_LOG_SYSLOG || (d->cfg.log_target == CONFIG_LOG_AUTO && detached)) {
                daemon_log_close(&d->dlog);
                daemon_log_open(&d->dlog, true, d->dlog.max_level);
        }
        log_notice(&d->log, "ready (platform %s)", d->opt.platform);
        detach_finish(&d->ready_fd, 0, d->dlog.syslog);
}

/* Options read: the log and the configuration.  1: --check-config is done
 * (exit 0); -1: exit 1. */
static int setup_config(struct daemon *d) {
        daemon_log_open(&d->dlog, false, d->opt.log_level ? d->opt.log_level : 6);
        d->log = daemon_log_logger(&d->dlog);

        if (load_config(d, &d->cfg) < 0)
                return -1;
        if (d->opt.check_config) {
                printf("%s: OK\n", d->opt.config);
                return 1;
        }
        d->dlog.max_level = d->opt.log_level ? d->opt.log_level : d->cfg.log_level;
        return 0;
}

/* Signals blocked for every thread to come and read from a signalfd; the
 * wake and stop eventfds.  Returns the signalfd, or -1 (logged). */
static int setup_signals(struct daemon *d) {
        sigset_t mask;
        int sfd;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &mask, NULL); /* before any thread: all inherit it */
        signal(SIGPIPE, SIG_IGN);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        d->nt_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (sfd < 0 || d->wake_fd < 0 || d->nt_stop < 0) {
                log_error(&d->log, "cannot create event fds: %s", strerror(errno));
                return -1;
        }
        return sfd;
}

static void timer_rearm_run(struct linux_hotplug_work *w, bool cancelled) {
        free(w);
}

/* The memory conditions' slow timer starts again (a first listener: a
 * client's subscription).  The hotplug thread runs it and may be asleep
 * with no timeout: an empty work wakes it to compute its timeout again. */
static void memcond_timer_rearm(void *userdata) {
        struct daemon *d = userdata;
        struct linux_hotplug_work *w;

        if (!d->hp)
                return; /* not started yet: it computes its first timeout itself */
        w = calloc(1, sizeof(*w));
        if (!w) {
                log_warning(&d->log, "out of memory: the memory conditions are re-read at the next event only");
                return;
        }
        w->fn = timer_rearm_run;
        linux_hotplug_submit(d->hp, w);
}

/* The platform set up and started: on Linux the start-up resync and the
 * hotplug thread, on the sim the --scenario. */
static int start_platform(struct daemon *d) {
        int r;

        r = setup_platform(d);
        if (r < 0) {
                log_error(&d->log, "cannot set up the %s platform: %s", d->opt.platform, strerror(-r));
                return r;
        }
        /* The memory conditions are re-read on the slow timer only while
         * someone is told of them (a client, the state file): an idle dhpd
         * that nobody asks does not wake. */
        if (d->lp)
                memcond_set_timer_notify(d->engine, memcond_timer_rearm, d);
        /* Before any thread runs a transaction: it adds an engine hook. */
        statefile_open(&d->sf, d->engine, d->opt.state_dir, d->opt.root,
                       d->opt.socket_path ? d->opt.socket_path : d->cfg.socket_path, &d->log);
        if (!d->lp)
                return d->opt.scenario ? run_scenario(d) : 0;
        /* Resync at start: whatever was hot-added while dhpd did not run is
         * brought online and notified now. */
        r = linux_platform_start(d->lp);
        if (r < 0)
                return r;
        memcond_evaluate(d->engine);
        r = linux_hotplug_start(&d->hp, &(struct linux_hotplug_config){ .lp = d->lp,
                                                                        .memcond_engine = d->engine,
                                                                        .psi_fd = d->psi_fd,
                                                                        .on_kick = apply_reload,
                                                                        .userdata = d,
                                                                        .log = &d->log });
        if (r < 0)
                log_error(&d->log, "cannot start the hotplug thread: %s", strerror(-r));
        return r;
}

/* Everything started, stopped in reverse; `rc` is the exit status the
 * waiting parent of a detached start gets when the start failed. */
static void teardown(struct daemon *d, int rc) {
        bool running;

        linux_hotplug_stop(d->hp);
        pthread_mutex_lock(&d->nt_lock);
        d->nt_allowed = false; /* no thread starts from here on */
        running = d->nt_running;
        pthread_mutex_unlock(&d->nt_lock);
        if (running) {
                wakefd_signal(d->nt_stop);
                pthread_join(d->nt_thread, NULL);
        }
        rebalance_lane_stop(d->rb);
        /* Clients first: their proxies leave the engine before it goes. */
        server_free(d->server);
        if (d->engine)
                engine_dispatch(d->engine);
        statefile_free(d->sf);
        arrival_unregister(d->arr_log[0]);
        arrival_unregister(d->arr_log[1]);
        if (d->mon)
                engine_monitor_remove(d->mon);
        kdevs_free(d->kdevs);
        linux_platform_free(d->lp);
        sim_free(d->sim);
        rebalance_free(d->rb);
        if (d->psi_fd >= 0)
                close(d->psi_fd);
        /* A start that failed: the waiting parent exits with its status. */
        detach_finish(&d->ready_fd, rc, false);
        daemon_log_close(&d->dlog);
}

int main(int argc, char **argv) {
        /* In .bss rather than on main's stack: zero without being written,
         * so what an idle dhpd never touches (the reload's configuration)
         * is never resident. */
        static struct daemon d;
        int sfd, r, rc = 1;

        d.wake_fd = d.psi_fd = d.nt_stop = d.ready_fd = -1;
        pthread_mutex_init(&d.reload_lock, NULL);
        pthread_mutex_init(&d.nt_lock, NULL);

        if (options_parse(&d.opt, argc, argv) < 0)
                return 2;
        r = setup_config(&d);
        if (r != 0)
                return r > 0 ? 0 : 1;
        if (!d.opt.foreground && !getenv("INVOCATION_ID")) {
                r = detach_start(&d.ready_fd);
                if (r < 0) {
                        log_error(&d.log, "cannot detach: %s", strerror(-r));
                        goto out;
                }
        }
        sfd = setup_signals(&d);
        if (sfd < 0 || start_platform(&d) < 0)
                goto out;
        r = setup_server(&d);
        if (r < 0) {
                log_error(&d.log, "cannot serve clients: %s", strerror(-r));
                goto out;
        }
        /* Enumeration done, the start-up resync run, the hotplug thread
         * watching, the socket listening. */
        announce_ready(&d);
        /* What start-up allocated and freed (the configuration file, the
         * resync's sysfs reads, ...) back to the kernel: free chunks stay
         * free, they just stop being resident until reused. */
        malloc_trim(0);

        rc = main_loop(&d, sfd) < 0 ? 1 : 0;
out:
        teardown(&d, rc);
        return rc;
}
