// SPDX-License-Identifier: MIT

package dhp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"
)

func TestPoolSize(t *testing.T) {
	for _, c := range []struct {
		ncpus         int
		quota, period uint64
		want          int
	}{
		{8, 50000, 100000, 2},     // 0.5 CPU: at least 2
		{8, 250000, 100000, 3},    // 2.5 CPUs: rounded up
		{8, 200000, 100000, 2},    // exactly 2
		{8, Unlimited, 100000, 8}, // no limit: the CPU count
		{1, 50000, 100000, 1},     // capped by the CPU set
		{0, Unlimited, 100000, 1}, // unknown count: 1
		{4, 1000, 1000000, 2},     // 0.001 CPU
		{64, 3200000, 100000, 32}, // 32 CPUs of 64
		{3, 1000000, 100000, 3},   // 10 CPUs of quota, 3 CPUs in the set
	} {
		if got := PoolSize(c.ncpus, c.quota, c.period); got != c.want {
			t.Errorf("PoolSize(%d, %d, %d) = %d, want %d", c.ncpus, c.quota, c.period, got, c.want)
		}
	}
}

func TestCgroupParsers(t *testing.T) {
	if q, p, err := parseCPUMax("max 100000\n"); err != nil || q != Unlimited || p != 100000 {
		t.Fatal(q, p, err)
	}
	if q, p, err := parseCPUMax("50000 100000"); err != nil || q != 50000 || p != 100000 {
		t.Fatal(q, p, err)
	}
	for _, bad := range []string{"", "max", "50000  100000", "x 100000", "50000 100000\n\n", "500 100000", "50000 10", "-1 100000"} {
		if _, _, err := parseCPUMax(bad); err == nil {
			t.Errorf("cpu.max %q accepted", bad)
		}
	}
	if v, err := parseMemory("max\n"); err != nil || v != Unlimited {
		t.Fatal(v, err)
	}
	if _, err := parseMemory("12k"); err == nil {
		t.Fatal("12k accepted")
	}
	cpus, err := parseCPUList("0-3,8,10-11\n")
	if err != nil || !reflect.DeepEqual(cpus, []int{0, 1, 2, 3, 8, 10, 11}) {
		t.Fatal(cpus, err)
	}
	if formatCPUList(cpus) != "0-3,8,10-11" {
		t.Fatal(formatCPUList(cpus))
	}
	for _, bad := range []string{"3-1", "a", "1,,2", "0-", "-1"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("cpu list %q accepted", bad)
		}
	}
	if m, r, err := parseMountinfo("30 25 0:26 / /sys/fs/cgroup rw shared:9 - cgroup2 cgroup2 rw\n"); err != nil ||
		m != "/sys/fs/cgroup" || r != "/" {
		t.Fatal(m, r, err)
	}
	if m, _, err := parseMountinfo("30 25 0:26 / /a\\040b rw - cgroup2 none rw\n"); err != nil || m != "/a b" {
		t.Fatal(m, err)
	}
	if _, _, err := parseMountinfo("30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatal(err)
	}
}

// fakeTree writes files under a temporary root: path -> content.
func fakeTree(t *testing.T, files map[string]string) string {
	root := t.TempDir()
	for p, s := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func write(t *testing.T, root, p, s string) {
	if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

const mountinfoLine = "30 25 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw\n"

func standardTree(t *testing.T) string {
	return fakeTree(t, map[string]string{
		"proc/self/mountinfo":                            "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n" + mountinfoLine,
		"proc/self/cgroup":                               "0::/app.slice/web\n",
		"sys/devices/system/cpu/online":                  "0-15\n",
		"sys/fs/cgroup/cgroup.controllers":               "cpuset cpu io memory pids\n",
		"sys/fs/cgroup/cpuset.cpus.effective":            "0-7\n",
		"sys/fs/cgroup/app.slice/cgroup.controllers":     "cpuset cpu memory\n",
		"sys/fs/cgroup/app.slice/cpu.max":                "250000 100000\n",
		"sys/fs/cgroup/app.slice/memory.max":             "1073741824\n",
		"sys/fs/cgroup/app.slice/memory.high":            "max\n",
		"sys/fs/cgroup/app.slice/web/cgroup.controllers": "cpu memory\n",
		"sys/fs/cgroup/app.slice/web/cpu.max":            "max 100000\n",
		"sys/fs/cgroup/app.slice/web/memory.max":         "max\n",
		"sys/fs/cgroup/app.slice/web/memory.high":        "536870912\n",
		"sys/fs/cgroup/app.slice/web/memory.current":     "4096\n",
		"sys/fs/cgroup/app.slice/web/cgroup.events":      "populated 1\nfrozen 0\n",
	})
}

func TestCgroupLimitsFakeTree(t *testing.T) {
	root := standardTree(t)
	l, err := ReadCgroupLimits(CgroupOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	want := &Limits{Dir: "/sys/fs/cgroup/app.slice/web", CPUs: []int{0, 1, 2, 3, 4, 5, 6, 7},
		QuotaUs: 250000, PeriodUs: 100000, PoolSize: 3, MemoryMax: 1 << 30, MemoryHigh: 512 << 20,
		MemoryCurrent: 4096, Populated: true}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("got  %+v\nwant %+v", l, want)
	}
	if l.Bandwidth() != 2.5 || l.CPUList() != "0-7" {
		t.Fatal(l.Bandwidth(), l.CPUList())
	}
	// A tighter leaf wins, and a cpuset of its own.
	write(t, root, "sys/fs/cgroup/app.slice/web/cpu.max", "50000 100000\n")
	write(t, root, "sys/fs/cgroup/app.slice/web/cpuset.cpus.effective", "2\n")
	l, err = ReadCgroupLimits(CgroupOptions{Root: root, Path: "app.slice/web"})
	if err != nil || l.QuotaUs != 50000 || l.PoolSize != 1 || !reflect.DeepEqual(l.CPUs, []int{2}) {
		t.Fatalf("%+v %v", l, err)
	}
	// An absolute path; the root cgroup: no limits, its cpuset.
	l, err = ReadCgroupLimits(CgroupOptions{Root: root, Path: "/sys/fs/cgroup"})
	if err != nil || l.QuotaUs != Unlimited || l.PoolSize != 8 || l.MemoryMax != Unlimited || !l.Populated {
		t.Fatalf("%+v %v", l, err)
	}
	// Without any cpuset.cpus.effective: the online CPUs.
	os.Remove(filepath.Join(root, "sys/fs/cgroup/cpuset.cpus.effective"))
	os.Remove(filepath.Join(root, "sys/fs/cgroup/app.slice/web/cpuset.cpus.effective"))
	l, err = ReadCgroupLimits(CgroupOptions{Root: root})
	if err != nil || len(l.CPUs) != 16 || l.PoolSize != 2 {
		t.Fatalf("%+v %v", l, err)
	}
}

func TestCgroupResolution(t *testing.T) {
	// A subtree mounted (mount root not "/"): stripped from the path.
	root := fakeTree(t, map[string]string{
		"proc/self/mountinfo":                  "30 25 0:26 /app.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
		"proc/self/cgroup":                     "0::/app.slice/web\n",
		"sys/fs/cgroup/cgroup.controllers":     "cpu memory\n",
		"sys/fs/cgroup/cpuset.cpus.effective":  "0-3\n",
		"sys/fs/cgroup/web/cgroup.controllers": "cpu memory\n",
		"sys/fs/cgroup/web/cpu.max":            "100000 100000\n",
	})
	l, err := ReadCgroupLimits(CgroupOptions{Root: root})
	if err != nil || l.Dir != "/sys/fs/cgroup/web" || l.PoolSize != 2 {
		t.Fatalf("%+v %v", l, err)
	}
	for _, c := range []struct {
		cgroup, mountinfo string
		errno             syscall.Errno
	}{
		{"0::/../elsewhere\n", mountinfoLine, syscall.ENOENT}, // outside the namespace
		{"0::/other/web\n", "30 25 0:26 /app.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", syscall.ENOENT},
		{"4:cpuset:/x\n0::/web\n", mountinfoLine, syscall.EOPNOTSUPP}, // hybrid mode: cpuset on v1
		{"4:cpu,cpuacct:/x\n", mountinfoLine, syscall.EOPNOTSUPP},     // v1 only
		{"0::/nosuch\n", mountinfoLine, syscall.ENOENT},
		{"0::/web\n", "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", syscall.ENOENT}, // no cgroup2 mount
	} {
		write(t, root, "proc/self/cgroup", c.cgroup)
		write(t, root, "proc/self/mountinfo", c.mountinfo)
		if _, err := ReadCgroupLimits(CgroupOptions{Root: root}); !errors.Is(err, c.errno) {
			t.Errorf("cgroup %q mountinfo %q: %v, want %v", c.cgroup, c.mountinfo, err, c.errno)
		}
	}
	if _, err := ReadCgroupLimits(CgroupOptions{Root: root, Path: "web/../x"}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("'..': %v", err)
	}
	os.MkdirAll(filepath.Join(root, "plain"), 0o755)
	if _, err := ReadCgroupLimits(CgroupOptions{Root: root, Path: "/plain"}); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("not a cgroup: %v", err)
	}
	write(t, root, "sys/fs/cgroup/web/cpu.max", "lots 100000\n")
	write(t, root, "proc/self/mountinfo", mountinfoLine)
	if _, err := ReadCgroupLimits(CgroupOptions{Root: root, Path: "web"}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("malformed cpu.max: %v", err)
	}
}

func nextLimits(t *testing.T, ch <-chan Limits, what string) Limits {
	t.Helper()
	select {
	case l, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return l
	case <-time.After(waitLimit):
		t.Fatalf("%s: no snapshot within %v", what, waitLimit)
	}
	panic("unreachable")
}

func TestCgroupWatch(t *testing.T) {
	root := standardTree(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// No re-read timer: every snapshot below comes from inotify.
	ch, err := WatchCgroupLimits(ctx, CgroupOptions{Root: root}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if l := nextLimits(t, ch, "first"); l.PoolSize != 3 || l.MemoryHigh != 512<<20 {
		t.Fatalf("%+v", l)
	}
	// memory.current alone is no change; the parent's cpu.max is one.
	write(t, root, "sys/fs/cgroup/app.slice/web/memory.current", "8192\n")
	write(t, root, "sys/fs/cgroup/app.slice/cpu.max", "50000 100000\n")
	if l := nextLimits(t, ch, "parent's cpu.max"); l.QuotaUs != 50000 || l.PoolSize != 2 || l.MemoryCurrent != 8192 {
		t.Fatalf("%+v", l)
	}
	write(t, root, "sys/fs/cgroup/app.slice/web/memory.max", "268435456\n")
	if l := nextLimits(t, ch, "memory.max"); l.MemoryMax != 256<<20 {
		t.Fatalf("%+v", l)
	}
	// Removal: the last snapshot says so, then the channel closes.
	if err := os.RemoveAll(filepath.Join(root, "sys/fs/cgroup/app.slice/web")); err != nil {
		t.Fatal(err)
	}
	for {
		l := nextLimits(t, ch, "removal")
		if l.Removed {
			break
		}
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("a snapshot after Removed")
		}
	case <-time.After(waitLimit):
		t.Fatal("channel not closed after Removed")
	}
}

func TestCgroupWatchCancel(t *testing.T) {
	root := standardTree(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := WatchCgroupLimits(ctx, CgroupOptions{Root: root}, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	nextLimits(t, ch, "first")
	cancel()
	for range ch { // closed after the cancellation, whatever was under way
	}
}

// The real process's cgroup: read without error where cgroup v2 is
// mounted (or refused with a reason), never written.
func TestCgroupLimitsSelf(t *testing.T) {
	l, err := CgroupLimits()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("an error without explanation: %v", err)
		}
		t.Skipf("no cgroup v2 limits here: %v", err)
	}
	if len(l.CPUs) == 0 || l.PoolSize < 1 {
		t.Fatalf("%+v", l)
	}
	t.Logf("own cgroup %s: CPUs %s, cpu.max %d/%d, pool size %d, memory.max %d", l.Dir, l.CPUList(), l.QuotaUs,
		l.PeriodUs, l.PoolSize, l.MemoryMax)
}
