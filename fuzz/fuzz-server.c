/* SPDX-License-Identifier: MIT */
/*
 * dhpd's request handling as a whole: one server (src/daemon/server.c and
 * the files it ties) on the simulated platform, in this process, kept
 * across inputs like a daemon that runs for days; each input is one
 * client's connection, a sequence of datagrams separated by FUZZ_SEP.  A
 * valid HELLO goes first unless the first piece is "noHELLO".  The client
 * is privileged (the server's group is the fuzzer's), so that every
 * handler is reached.  After each datagram the server runs until it is idle
 * (the worker's jobs done, the engine's queue dispatched).  Invariants:
 * every datagram dhpd sends decodes and is one dhpd may send; the client
 * is gone from the server once the connection is closed; nothing is left
 * queued for the worker.
 *
 * Seeds: run with DHP_FUZZ_SEEDS_OUT=DIR, the target writes one input per
 * message a client may send (the table's example after HELLO) and a few
 * sequences, then exits (scripts/fuzz.sh does).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/rebalance.h"
#include "daemon/server-internal.h"
#include "fuzz.h"
#include "platform/sim/sim.h"
#include "proto/ipcmsg.h"

static struct sim *sim;
static struct engine *engine;
static struct rebalance *rb;
static struct server *server;
static char sock_path[128];

/* Read what dhpd sent; each datagram must be a valid message for a client. */
static void drain(int fd) {
        static uint8_t buf[IPC_MSG_MAX + 1];
        static struct ipc_msg m;

        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
                if (n <= 0)
                        return;
                FUZZ_CHECK((size_t)n <= IPC_MSG_MAX);
                FUZZ_CHECK(ipcmsg_decode(buf, (size_t)n, &m) == 0);
                FUZZ_CHECK(!ipcmsg_from_client(m.type));
        }
}

/* Run the server, the engine's queue and read the client until all are
 * idle; bounded (a job that waits on a deadline takes 1 ms). */
static void pump(int fd) {
        for (int i = 0, idle = 0; i < 20000 && idle < 2; i++) {
                struct pollfd p = { .fd = server_get_fd(server), .events = POLLIN };
                struct server_stats st;
                bool busy = false;

                if (poll(&p, 1, 0) > 0) {
                        server_process(server);
                        busy = true;
                }
                if (engine_dispatch(engine) > 0)
                        busy = true;
                if (fd >= 0)
                        drain(fd);
                server_get_stats(server, &st);
                if (busy || st.jobs) {
                        idle = 0;
                        if (!busy)
                                poll(&p, 1, 1);
                } else {
                        idle++;
                }
        }
}

static int client_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        FUZZ_CHECK(fd >= 0);
        strcpy(sa.sun_path, sock_path);
        FUZZ_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        return fd;
}

static size_t encode_hello(uint8_t *buf, size_t size) {
        struct ipc_msg m = { .type = IPC_HELLO, .id = 1 };
        int n;

        m.hello = (typeof(m.hello)){ .major = IPC_VERSION_MAJOR, .minor = IPC_VERSION_MINOR };
        strcpy(m.hello.name, "fuzz");
        n = ipcmsg_encode(&m, buf, size);
        FUZZ_CHECK(n > 0);
        return (size_t)n;
}

static void write_input(const char *dir, const char *name, const struct ipc_msg *v, size_t n) {
        static uint8_t buf[IPC_MSG_MAX];
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        FUZZ_CHECK(f);
        for (size_t i = 0; i < n; i++) {
                int len = ipcmsg_encode(&v[i], buf, sizeof(buf));
                FUZZ_CHECK(len > 0);
                if (i)
                        FUZZ_CHECK(fwrite(FUZZ_SEP, 1, FUZZ_SEP_LEN, f) == FUZZ_SEP_LEN);
                FUZZ_CHECK(fwrite(buf, 1, (size_t)len, f) == (size_t)len);
        }
        FUZZ_CHECK(fclose(f) == 0);
}

static void write_seeds(const char *dir) {
        static struct ipc_msg v[4];

        for (size_t i = 0; i < ipcmsg_table_len; i++) {
                char name[64];
                if (!ipcmsg_from_client(ipcmsg_table[i].type) || ipcmsg_table[i].type == IPC_HELLO)
                        continue;
                FUZZ_CHECK(ipcmsg_example(ipcmsg_table[i].type, 1, &v[0]) == 0);
                snprintf(name, sizeof(name), "%s", ipcmsg_table[i].name);
                write_input(dir, name, v, 1);
        }
        /* An arrival registration with the devices present, then STATUS. */
        v[0] = (struct ipc_msg){ .type = IPC_ARRIVAL_REGISTER, .id = 2 };
        v[0].arrival_register = (typeof(v[0].arrival_register)){ .reg = 1, .cls = 2, .flags = 1 };
        v[1] = (struct ipc_msg){ .type = IPC_STATUS, .id = 3 };
        write_input(dir, "arrival-existing-status", v, 2);
        /* A synchronous registration, then a processor added. */
        v[0] = (struct ipc_msg){ .type = IPC_PROC_REGISTER, .id = 2, .proc_register = { .reg = 1 } };
        v[1] = (struct ipc_msg){ .type = IPC_SIM_CPU_ADD, .id = 3 };
        v[2] = (struct ipc_msg){ .type = IPC_PROC_DEREGISTER, .id = 4, .unreg = { .reg = 1 } };
        write_input(dir, "register-cpu-add", v, 3);
        /* A device with a driver that never answers, then a processor. */
        v[0] = (struct ipc_msg){ .type = IPC_DEVICE_NEW, .id = 2 };
        strcpy(v[0].device_new.name, "disk");
        strcpy(v[0].device_new.setup_class, "Storage");
        v[1] = (struct ipc_msg){ .type = IPC_DRIVER_ATTACH, .id = 3 };
        strcpy(v[1].driver_attach.name, "drv");
        v[2] = (struct ipc_msg){ .type = IPC_SIM_CPU_ADD, .id = 4 };
        v[3] = (struct ipc_msg){ .type = IPC_DEVICE_FREE, .id = 5 };
        write_input(dir, "device-driver-cpu-add", v, 4);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        struct sim_config sc = SIM_CONFIG_DEFAULT;
        struct server_config cfg = SERVER_CONFIG_DEFAULT;
        static char dir[] = "/tmp/dhp-fuzz-server-XXXXXX";
        const char *seeds = getenv("DHP_FUZZ_SEEDS_OUT");

        (void)argc;
        (void)argv;
        if (seeds) {
                write_seeds(seeds);
                exit(0);
        }
        FUZZ_CHECK(mkdtemp(dir));
        snprintf(sock_path, sizeof(sock_path), "%s/dhpd.sock", dir);
        FUZZ_CHECK(sim_config_parse(&sc, "cpus=2,maxcpus=16,memory=256M,block=128M,maxmem=4G") == 0);
        FUZZ_CHECK(sim_new(&sim, &sc) == 0);
        engine = sim_engine(sim);
        FUZZ_CHECK(rebalance_new(engine, &rb) == 0);
        cfg.socket_path = sock_path;
        cfg.deadline_ns = 1000000; /* 1 ms: the fuzz client never answers */
        cfg.max_queue = 32;
        cfg.max_regs = 8;
        cfg.rebalance = rb;
        FUZZ_CHECK(server_new(&server, engine, sim, &cfg, NULL) == 0);
        server_set_rebalance(server, rb);
        /* The client is privileged whatever uid runs the fuzzer. */
        server->group = getegid();
        server->have_group = true;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static uint8_t hello[256];
        const uint8_t *p = data, *end = data + size, *piece;
        struct server_stats st;
        size_t len;
        int fd = client_connect();

        if (size >= 7 && memcmp(data, "noHELLO", 7) == 0 && (size == 7 || memcmp(data + 7, FUZZ_SEP, 1) == 0))
                fuzz_next_piece(&p, end, &piece, &len);
        else
                FUZZ_CHECK(send(fd, hello, encode_hello(hello, sizeof(hello)), 0) > 0);
        pump(fd);
        for (int n = 0; n < 64 && fuzz_next_piece(&p, end, &piece, &len); n++) {
                static struct ipc_msg m;
                /* Long scenarios are fuzz-scenario's: here the server's
                 * handling of SIM_RUN, with short ones. */
                if (ipcmsg_decode(piece, len, &m) == 0 && m.type == IPC_SIM_RUN && m.sim_run.text_len > 256)
                        continue;
                if (send(fd, piece, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
                        break; /* dropped */
                pump(fd);
        }
        close(fd);
        pump(-1);
        server_get_stats(server, &st);
        FUZZ_CHECK(st.clients == 0);
        FUZZ_CHECK(st.jobs == 0);
        FUZZ_CHECK(st.streams == 0);
        return 0;
}
