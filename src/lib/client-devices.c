/* SPDX-License-Identifier: MIT */
/*
 * User-space devices of a "unix:" context: the ops of the mirror rebalance
 * module.  The devices live in dhpd; each local device and driver is an
 * entry known to dhpd by its wire id.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/peer.h"
#include "core/rebalance.h"
#include "lib/client-internal.h"

/* ---- user-space devices: the mirror's ops -------------------------------------------- */

static struct entry *entry_by_ptr_locked(struct remote *r, enum entry_kind kind, const void *p) {
        for (struct entry *e = r->entries; e; e = e->next)
                if (e->kind == kind && (kind == ENTRY_DEVICE ? (void *)e->dev : (void *)e->drv) == p)
                        return e;
        return NULL;
}

/* The wire id of a device, or 0. */
static uint32_t device_id(struct remote *r, dhp_device *dev) {
        struct entry *e;
        uint32_t id;

        pthread_mutex_lock(&r->lock);
        e = entry_by_ptr_locked(r, ENTRY_DEVICE, dev);
        id = e ? e->id : 0;
        pthread_mutex_unlock(&r->lock);
        return id;
}

static int op_device_new(void *ud, dhp_device *dev) {
        struct remote *r = ud;
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_DEVICE_NEW };
        struct entry *e = client_entry_new(r, ENTRY_DEVICE, dhp_device_get_name(dev), 0);
        int ret;

        if (!e)
                return -ENOMEM;
        pthread_mutex_lock(&r->lock);
        e->dev = dev; /* DEVICE_INFO, before the REPLY, finds it */
        pthread_mutex_unlock(&r->lock);
        m.device_new.dev = e->id;
        snprintf(m.device_new.name, sizeof(m.device_new.name), "%s", dhp_device_get_name(dev));
        snprintf(m.device_new.setup_class, sizeof(m.device_new.setup_class), "%s", dhp_device_get_setup_class(dev));
        ret = client_call(r, &m, &req);
        if (ret < 0)
                client_entry_remove(r, e);
        return ret;
}

static void op_device_free(void *ud, dhp_device *dev) {
        struct remote *r = ud;
        struct ipc_msg m = { .type = IPC_DEVICE_FREE };
        struct entry *e, *gone = NULL;

        pthread_mutex_lock(&r->lock);
        e = entry_by_ptr_locked(r, ENTRY_DEVICE, dev);
        if (e && !r->error) {
                m.unreg.reg = e->id;
                client_send(r, &m);
        }
        /* The device's entry and its drivers': no request runs them now. */
        for (struct entry **p = &r->entries; *p;) {
                struct entry *x = *p;
                if (x == e || (e && x->kind == ENTRY_DRIVER && x->dev_id == e->id)) {
                        *p = x->next;
                        x->next = gone;
                        gone = x;
                } else {
                        p = &x->next;
                }
        }
        pthread_mutex_unlock(&r->lock);
        while (gone) {
                e = gone;
                gone = e->next;
                free(e);
        }
}

static int op_device_set(void *ud, dhp_device *dev, uint32_t what, uint32_t value, const char *cpulist) {
        struct remote *r = ud;
        struct request req = { 0 };
        struct ipc_msg *m;
        int ret;

        if (cpulist && strlen(cpulist) >= IPC_AFFINITY_MAX)
                return -ERANGE;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->type = IPC_DEVICE_SET;
        m->device_set.dev = device_id(r, dev);
        m->device_set.what = what;
        m->device_set.value = value;
        snprintf(m->device_set.cpulist, sizeof(m->device_set.cpulist), "%s", cpulist ? cpulist : "");
        ret = client_call(r, m, &req);
        free(m);
        return ret;
}

static int op_device_participates(void *ud, dhp_device *dev) {
        struct remote *r = ud;
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_DEVICE_QUERY, .unreg = { .reg = device_id(r, dev) } };
        int ret = client_call(r, &m, &req);

        return ret < 0 ? ret : req.v32 ? 1 : 0;
}

static int op_class_set_optout(void *ud, const char *cls, bool optout) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_CLASS_OPTOUT,
                             .class_optout = { .op = IPC_CLASS_OPTOUT_SET, .optout = optout } };

        snprintf(m.class_optout.setup_class, sizeof(m.class_optout.setup_class), "%s", cls);
        return client_call(ud, &m, &req);
}

static int op_class_get_optout(void *ud, const char *cls, bool *ret) {
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_CLASS_OPTOUT, .class_optout = { .op = IPC_CLASS_OPTOUT_GET } };
        int ret2;

        snprintf(m.class_optout.setup_class, sizeof(m.class_optout.setup_class), "%s", cls);
        ret2 = client_call(ud, &m, &req);
        if (ret2 == 0)
                *ret = req.v32 != 0;
        return ret2;
}

static int op_driver_attach(void *ud, dhp_driver *drv, uint32_t level, const char *name) {
        struct remote *r = ud;
        struct request req = { 0 };
        struct ipc_msg m = { .type = IPC_DRIVER_ATTACH };
        uint32_t dev = device_id(r, rebalance_driver_device(drv));
        struct entry *e;
        int ret;

        if (!dev)
                return -ENODEV;
        e = client_entry_new(r, ENTRY_DRIVER, name, 0);
        if (!e)
                return -ENOMEM;
        pthread_mutex_lock(&r->lock);
        e->drv = drv; /* a request read before the REPLY finds it */
        e->dev_id = dev;
        pthread_mutex_unlock(&r->lock);
        m.driver_attach = (typeof(m.driver_attach)){ .dev = dev, .drv = e->id, .level = level };
        snprintf(m.driver_attach.name, sizeof(m.driver_attach.name), "%s", name);
        ret = client_call(r, &m, &req);
        if (ret < 0)
                client_entry_remove(r, e);
        return ret;
}

static void op_driver_detach(void *ud, dhp_driver *drv) {
        struct remote *r = ud;
        struct ipc_msg m = { .type = IPC_DRIVER_DETACH };
        struct entry *e;

        pthread_mutex_lock(&r->lock);
        e = entry_by_ptr_locked(r, ENTRY_DRIVER, drv);
        if (e && !r->error) {
                m.unreg.reg = e->id;
                client_send(r, &m);
        }
        pthread_mutex_unlock(&r->lock);
        if (e)
                client_entry_remove(r, e);
}

static const struct peer_device_ops rebalance_ops = {
        .device_new = op_device_new,
        .device_free = op_device_free,
        .device_set = op_device_set,
        .device_participates = op_device_participates,
        .class_set_optout = op_class_set_optout,
        .class_get_optout = op_class_get_optout,
        .driver_attach = op_driver_attach,
        .driver_detach = op_driver_detach,
};

const struct peer_device_ops *remote_rebalance_ops(void) {
        return &rebalance_ops;
}
