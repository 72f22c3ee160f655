// SPDX-License-Identifier: MIT

package dhp

import (
	"context"
	"os"
	"syscall"
	"time"
)

// DefaultReread is how often WatchCgroupLimits re-reads the files when
// nothing notified, for the changes the kernel does not report
// (cpuset.cpus.effective recomputed after a parent's change, a controller
// enabled later): the C watcher's default.
const DefaultReread = time.Second

// WatchCgroupLimits sends the cgroup's limits at once, then a new snapshot
// at every change of them (CPUs, cpu.max, memory.max, memory.high,
// populated; memory.current alone is not a change).  A write to a limit
// file at any level is seen at once (inotify IN_MODIFY); the rest within
// reread (0: DefaultReread, negative: never).  When the cgroup is removed
// the last snapshot has Removed set.  The channel is closed then, or when
// ctx is done.  A snapshot that cannot be read (a file caught being
// rewritten) is skipped: the next wake-up reads again.
func WatchCgroupLimits(ctx context.Context, opts CgroupOptions, reread time.Duration) (<-chan Limits, error) {
	cg, err := openCgroup(opts)
	if err != nil {
		return nil, err
	}
	first, err := cg.read()
	if err != nil {
		return nil, err
	}
	if reread == 0 {
		reread = DefaultReread
	}
	kick := make(chan struct{}, 1)
	ino, err := cg.inotify(kick)
	if err != nil {
		return nil, err
	}
	out := make(chan Limits)
	go func() {
		defer close(out)
		defer ino.Close()
		var tick <-chan time.Time
		if reread > 0 {
			t := time.NewTicker(reread)
			defer t.Stop()
			tick = t.C
		}
		last := *first
		if !send(ctx, out, last) {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
			case <-tick:
			}
			l, err := cg.read()
			if err != nil {
				if errnoOf(err, 0) == syscall.ENODEV {
					last.Removed = true
					send(ctx, out, last)
					return
				}
				continue
			}
			if sameLimits(&last, l) {
				last.MemoryCurrent = l.MemoryCurrent
				continue
			}
			last = *l
			if !send(ctx, out, last) {
				return
			}
		}
	}()
	return out, nil
}

func send(ctx context.Context, out chan<- Limits, l Limits) bool {
	select {
	case out <- l:
		return true
	case <-ctx.Done():
		return false
	}
}

func sameLimits(a, b *Limits) bool {
	if len(a.CPUs) != len(b.CPUs) {
		return false
	}
	for i := range a.CPUs {
		if a.CPUs[i] != b.CPUs[i] {
			return false
		}
	}
	return a.QuotaUs == b.QuotaUs && a.PeriodUs == b.PeriodUs && a.PoolSize == b.PoolSize &&
		a.MemoryMax == b.MemoryMax && a.MemoryHigh == b.MemoryHigh && a.Populated == b.Populated
}

// inotify watches the directory of every level: a write to a file in it
// (IN_MODIFY, which vfs_write reports for kernfs files too), and the
// cgroup's own removal.  Each event kicks the watcher once.
func (cg *cgroupDir) inotify(kick chan<- struct{}) (*os.File, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, cgErr(errnoOf(err, syscall.EIO), "inotify: %v", err)
	}
	mask := uint32(syscall.IN_MODIFY | syscall.IN_ATTRIB | syscall.IN_CREATE | syscall.IN_DELETE |
		syscall.IN_DELETE_SELF | syscall.IN_MOVED_TO | syscall.IN_CLOSE_WRITE)
	for _, dir := range append([]string{cg.dir}, cg.ancestors...) {
		if _, err := syscall.InotifyAddWatch(fd, cg.root+dir, mask); err != nil {
			syscall.Close(fd)
			return nil, cgErr(errnoOf(err, syscall.EIO), "inotify on %s: %v", dir, err)
		}
	}
	// Non-blocking: the runtime's poller wakes the read, and Close ends it.
	f := os.NewFile(uintptr(fd), "inotify")
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	}()
	return f, nil
}
