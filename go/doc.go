// SPDX-License-Identifier: MIT

// Package dhp is the Go client of dhpd, the dhp daemon that brings
// hot-added processors and memory online and tells programs about it, and
// a reader of the limits of the process's own cgroup.  Standard library
// only, no cgo.
//
// # Talking to dhpd
//
// Dial connects to dhpd's socket over the documented protocol
// (doc/protocol.md: a SOCK_SEQPACKET Unix socket, HELLO/WELCOME, one
// message per datagram).  The target has the form of the C library's
// DHP_TARGET: "unix:/path/to/dhpd.sock"; "" means $DHP_TARGET, else
// unix:/run/dhp/dhpd.sock.
//
//	c, err := dhp.Dial(ctx, "")
//	reg, err := c.RegisterArrival(ctx, dhp.ClassProcessor, dhp.IncludeExisting, "workers")
//	for a := range reg.C() {
//		fmt.Println(a.Event, a.Name, a.Existing)
//	}
//
// What it offers, all of it open to any user except where marked:
//   - arrival and removal notifications of processors and memory
//     (RegisterArrival, with IncludeExisting for the devices present);
//   - memory condition events (SubscribeMemCond: LowMemoryCondition ...;
//     MemCondConfigure is privileged, MemCondThreshold is not);
//   - dhpd's record stream (Monitor) and its kept records (History);
//   - dhpd's status (Status: processors, memory devices, clients);
//   - control of the simulated platform of a dhpd started with
//     --platform sim (SimCPUAdd, SimMemoryAdd, SimRun; privileged).
//
// Notifications come on channels, in dhpd's order.  A registration's
// channel never blocks the connection: what the application has not read
// yet waits in the registration's own queue, so a channel that is never
// read only grows its own backlog.  Every request takes a context.Context
// for cancellation.  dhpd's refusals are *Error values that wrap a
// syscall.Errno (errors.Is(err, syscall.EPERM)) and carry dhpd's
// explanation in Text.
//
// # A dhpd restart
//
// When the connection is lost, Lost() is closed and requests fail with
// ECONNRESET.  Reconnect (or the WithReconnect option, which retries by
// itself; the C library never reconnects by itself) connects again and
// re-sends every registration, as the C library's dhp_reconnect() does:
// the devices that arrived while dhpd was away are reported as arrivals
// (Existing false), the memory condition subscriptions deliver their state
// again (Initial set), the monitor resumes, and no device is reported
// twice.  One thing more than the C library: a device the registration
// knew that is gone after the restart is reported as a removal, so that a
// later arrival of the same name is reported too.
//
// # Why synchronous processor registration stays with the C library
//
// dhpd's synchronous notification (PROC_REGISTER: ADD_START with a veto,
// then ADD_COMPLETE or ADD_FAILURE) comes with a guarantee from the C
// library: no thread of the registered process runs on a new processor
// before its add completes.  libdhp keeps it by setting the affinity of
// every thread of the process (each entry of /proc/self/task, at connect
// and after every ADD_COMPLETE) to the admitted processors; a thread
// created later inherits the mask of the thread that created it.  That
// one pass is sound for a C program, whose threads are created by its own
// code: none is being created from a thread the pass has not reached yet
// unless the program does so itself.
//
// A Go program does not create its threads: the runtime does, at any
// moment and behind the program's back (a goroutine that blocks in a
// system call hands its P to a new thread; sysmon, the template thread,
// GC workers).  A pass over /proc/self/task from Go therefore races the
// runtime's own clone() calls: a thread cloned from a thread the pass has
// not reached yet, after the pass read the directory past it, keeps the
// old mask and can run on the processor being added.  Nothing in Go
// without cgo can stop the runtime from creating threads during the pass
// (LockOSThread pins one goroutine to one thread, it does not stop the
// others), and answering ADD_START within dhpd's deadline from goroutines
// adds the runtime's pauses to the veto path.  Closing that race is the
// C library's job, done once and tested there (the concurrency suite); so
// this package does not register synchronously.  A Go program that must
// veto or prepare before a processor is admitted uses libdhp through cgo
// (include/dhp.h, dhp_proc_register); the arrival notification here tells
// a program after the fact, which is what most programs need (resize a
// pool, raise GOMAXPROCS).
//
// # The limits of the process's own cgroup
//
// CgroupLimits reads them natively (no dhpd needed), WatchCgroupLimits
// follows them, with the same semantics as the C library's cgroup target
// (src/platform/linux/cgpart.h):
//
//   - Which cgroup: the "0::PATH" line of /proc/self/cgroup, resolved
//     against the cgroup2 line of /proc/self/mountinfo (a mount of a subtree
//     has its root stripped from PATH; inside a cgroup namespace both are
//     relative to its root).  CgroupOptions.Path names another one
//     (absolute, or relative to the mount); CgroupOptions.Root prefixes
//     every path read, for tests on a fake tree.  Only cgroup v2: cgroup v1
//     alone, and hybrid mode with cpu, cpuset or memory on a v1 hierarchy,
//     are EOPNOTSUPP (the v2 files would say "no limit" while v1 enforces
//     one).
//   - CPUs: cpuset.cpus.effective of the cgroup (the kernel folds the
//     ancestors in), or of the nearest ancestor having it when the cpuset
//     controller is not enabled at this level, or the online CPUs.
//   - Bandwidth: the tightest cpu.max (smallest quota/period) of the cgroup
//     and every ancestor up to the mount's root: the kernel throttles at
//     each level.
//   - Memory: the tightest memory.max and memory.high over the same levels;
//     memory.current of the cgroup itself.
//   - A missing file means its controller is not enabled there: that level
//     limits nothing.
//   - PoolSize, the figure to set GOMAXPROCS from: Go 1.25's runtime rule
//     (runtime/cgroup_linux.go): min(CPUs, max(2, ceil(quota/period))), the
//     CPU count when unlimited; so at least 1 on a one-CPU set, usually at
//     least 2.  Two deliberate differences with the runtime: the CPU count
//     is the cgroup's effective set (the runtime: the process's affinity
//     mask), and the quota is the tightest ancestor's (the runtime reads
//     the leaf only).
//
// A program on a Go older than 1.25, or one that wants to follow changes
// (the runtime re-reads cpu.max only), does:
//
//	ch, err := dhp.WatchCgroupLimits(ctx, dhp.CgroupOptions{}, 0)
//	for l := range ch {
//		runtime.GOMAXPROCS(l.PoolSize)
//	}
package dhp
