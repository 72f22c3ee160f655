/* SPDX-License-Identifier: MIT */
/*
 * The state file: the partition's current state in a small text file that
 * any program can watch without a library (doc/protocol.md, "The state
 * file").  key=value lines: a sequence number, the admitted processors,
 * the online memory, each memory condition.  Replaced whole (a temporary
 * file renamed over it) at every change, so that an inotify watch on the
 * directory sees one IN_MOVED_TO per version and every read sees a whole
 * version.
 *
 * Changes are learnt from the engine's hooks (a processor admitted, memory
 * online or offline: the engine runs them after the transaction's
 * notifications) and from the memory condition listeners; each change that
 * alters the content renders one version, numbered, in memory.  A thread of
 * the module writes the versions in order: no file is written on a thread
 * that notifies.
 */
#pragma once

#include "core/engine.h"
#include "util/log.h"

struct statefile;

/*
 * statefile_new - write the first version (seq 1) of DIR/state for the
 * engine's current state, and follow every change from now on.  Call it
 * once the platform is set up (after the start-up resync).  DIR is
 * created if missing (mkdir -p).  Errors: -EINVAL, -ENOMEM, or the errno
 * of creating DIR or of the first write.
 */
int statefile_new(struct statefile **ret, struct engine *e, const char *dir, struct logger *log);

/*
 * statefile_open - statefile_new() where dhpd's options say: in state_dir
 * when not NULL ("": no state file, *ret NULL), else ROOT/run/dhp when root
 * is not empty (beside the Linux platform's transaction marks, in the test
 * tree), else the socket's directory.  A failure is logged and leaves *ret
 * NULL: dhpd runs on without the file.
 */
void statefile_open(struct statefile **ret, struct engine *e, const char *state_dir, const char *root,
                    const char *socket_path, struct logger *log);

/*
 * statefile_free - write the versions still queued, stop following the
 * engine and free.  The file stays (it describes the partition as dhpd
 * left it).  Call it once no transaction runs any more (the hotplug thread
 * stopped, the clients gone) and before the engine is freed: the engine's
 * hooks cannot be removed, so a transaction after it would find a freed
 * module.  NULL is a no-op.
 */
void statefile_free(struct statefile *sf);

/* The current sequence number (the last version rendered; tests). */
uint64_t statefile_seq(struct statefile *sf);

/* The file's name in the directory, and the temporary file's (which a
 * reader ignores: it starts with a dot). */
#define STATEFILE_NAME "state"
#define STATEFILE_TMP_NAME ".state.tmp"
