// SPDX-License-Identifier: MIT

package dhp

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Unlimited is "max" in cpu.max, memory.max and memory.high.
const Unlimited = math.MaxUint64

// Kernel bounds of cpu.max (kernel/sched/core.c): periods of 1 ms to 1 s,
// a quota of at least 1 ms.
const (
	cpuPeriodMinUs = 1000
	cpuPeriodMaxUs = 1000000
	cpuQuotaMinUs  = 1000
	cgroupMaxDepth = 32
)

// CgroupOptions chooses the cgroup whose limits are read.
type CgroupOptions struct {
	// Root prefixes every path read, /proc/self/* included: "" on a real
	// system, a fake tree in tests.
	Root string
	// Path: "" for the process's own cgroup, an absolute directory
	// ("/sys/fs/cgroup/app"), or a path relative to the cgroup2 mount
	// ("app/worker").
	Path string
}

// Limits is a snapshot of a cgroup v2's limits, the tightest of the cgroup
// and of every ancestor visible (see the package documentation).
type Limits struct {
	Dir           string // the cgroup's directory (without Root)
	CPUs          []int  // the CPUs it may use, ascending
	QuotaUs       uint64 // the tightest cpu.max quota; Unlimited when every level says "max"
	PeriodUs      uint64 // its period (100000 when Unlimited)
	PoolSize      int    // the GOMAXPROCS figure: PoolSize(len(CPUs), QuotaUs, PeriodUs)
	MemoryMax     uint64 // tightest memory.max; Unlimited
	MemoryHigh    uint64 // tightest memory.high; Unlimited
	MemoryCurrent uint64 // the cgroup's own usage; 0 when unknown
	Populated     bool   // cgroup.events; true when absent (the root cgroup)
	Removed       bool   // the cgroup is gone (the watcher's last snapshot)
}

// Bandwidth is QuotaUs/PeriodUs in CPUs, or -1 when unlimited.
func (l *Limits) Bandwidth() float64 {
	if l.QuotaUs == Unlimited || l.PeriodUs == 0 {
		return -1
	}
	return float64(l.QuotaUs) / float64(l.PeriodUs)
}

// CPUList formats CPUs in the kernel's list format ("0-3,8").
func (l *Limits) CPUList() string { return formatCPUList(l.CPUs) }

// PoolSize is the number of threads to run Go code (GOMAXPROCS), or the
// size of any worker pool, computed as Go 1.25's runtime computes its
// default GOMAXPROCS (runtime/cgroup_linux.go: defaultGOMAXPROCS,
// adjustCgroupGOMAXPROCS): the CPU count, lowered to the CPU limit
// quota/period rounded up, where a limit under 2 counts as 2.  So 0.5 CPU
// on 8 CPUs gives 2, 2.5 CPUs give 3, "max" gives 8, 0.5 CPU on a 1-CPU
// set gives 1.  ncpus 0 or less counts as 1; the result is at least 1.
func PoolSize(ncpus int, quotaUs, periodUs uint64) int {
	if ncpus < 1 {
		ncpus = 1
	}
	if quotaUs == Unlimited || periodUs == 0 {
		return ncpus
	}
	limit := quotaUs / periodUs
	if quotaUs%periodUs != 0 {
		limit++
	}
	if limit < 2 {
		limit = 2
	}
	if limit < uint64(ncpus) {
		return int(limit)
	}
	return ncpus
}

// CgroupLimits reads the limits of the process's own cgroup.
func CgroupLimits() (*Limits, error) {
	return ReadCgroupLimits(CgroupOptions{})
}

// cgroupDir is a resolved cgroup: its directory and its ancestors.
type cgroupDir struct {
	root      string
	dir       string
	ancestors []string // nearest first, up to the mount's root
}

// ReadCgroupLimits reads the limits of the cgroup opts names.  Errors wrap
// EOPNOTSUPP (cgroup v1 only, or hybrid mode with cpu, cpuset or memory on
// a v1 hierarchy), ENOTDIR (not a cgroup v2 directory), ENOENT (no such
// cgroup, or outside this namespace or the mount's root), EINVAL
// (malformed content, "." or ".." in a path), ELOOP (deeper than 32).
func ReadCgroupLimits(opts CgroupOptions) (*Limits, error) {
	cg, err := openCgroup(opts)
	if err != nil {
		return nil, err
	}
	return cg.read()
}

func cgErr(errno syscall.Errno, format string, a ...interface{}) error {
	return &Error{Op: "cgroup", Errno: errno, Text: fmt.Sprintf(format, a...)}
}

func pathClean(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if c == "." || c == ".." {
			return false
		}
	}
	return true
}

func openCgroup(opts CgroupOptions) (*cgroupDir, error) {
	cg := &cgroupDir{root: opts.Root}
	switch {
	case opts.Path != "" && !pathClean(opts.Path):
		return nil, cgErr(syscall.EINVAL, "%s: '.' and '..' components are refused", opts.Path)
	case strings.HasPrefix(opts.Path, "/"):
		cg.dir = path.Clean(opts.Path)
	default:
		dir, err := resolveCgroup(opts.Root, opts.Path)
		if err != nil {
			return nil, err
		}
		cg.dir = dir
	}
	if err := cg.check(); err != nil {
		return nil, err
	}
	for cur := cg.dir; ; {
		cur = path.Dir(cur)
		if cur == "/" || !cg.has(cur, "cgroup.controllers") {
			break
		}
		if len(cg.ancestors) == cgroupMaxDepth {
			return nil, cgErr(syscall.ELOOP, "%s: more than %d ancestors", cg.dir, cgroupMaxDepth)
		}
		cg.ancestors = append(cg.ancestors, cur)
	}
	return cg, nil
}

// resolveCgroup finds the cgroup2 mount in /proc/self/mountinfo, and the
// process's own cgroup ("0::PATH" of /proc/self/cgroup) below it when rel
// is empty.
func resolveCgroup(root, rel string) (string, error) {
	mi, err := os.ReadFile(root + "/proc/self/mountinfo")
	if err != nil {
		return "", cgErr(errnoOf(err, syscall.EIO), "/proc/self/mountinfo: %v", err)
	}
	mnt, mroot, err := parseMountinfo(string(mi))
	if err != nil {
		return "", err
	}
	if !pathClean(mnt) || !pathClean(mroot) {
		return "", cgErr(syscall.EINVAL, "/proc/self/mountinfo: cgroup2 mount %s (root %s) has '.' or '..'", mnt, mroot)
	}
	if rel != "" {
		return path.Join(mnt, rel), nil
	}
	pc, err := os.ReadFile(root + "/proc/self/cgroup")
	if err != nil {
		return "", cgErr(errnoOf(err, syscall.EIO), "/proc/self/cgroup: %v", err)
	}
	self, err := parseProcCgroup(string(pc))
	if err != nil {
		return "", err
	}
	if err := checkHybrid(root, mnt, string(pc)); err != nil {
		return "", err
	}
	// A cgroup outside our namespace's root shows as "/../x".
	if !pathClean(self) {
		return "", cgErr(syscall.ENOENT, "/proc/self/cgroup: %s is outside this cgroup namespace", self)
	}
	sub := self
	if mroot != "/" {
		if self != mroot && !strings.HasPrefix(self, mroot+"/") {
			return "", cgErr(syscall.ENOENT, "cgroup %s is not under the cgroup2 mount's root %s", self, mroot)
		}
		sub = strings.TrimPrefix(self, mroot)
	}
	return path.Join(mnt, sub), nil
}

// parseProcCgroup returns the path of the "0::" line.
func parseProcCgroup(s string) (string, error) {
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "0::") {
			p := strings.TrimPrefix(line, "0::")
			if !strings.HasPrefix(p, "/") {
				return "", cgErr(syscall.EINVAL, "/proc/self/cgroup: '0::%s' is not an absolute path", p)
			}
			return p, nil
		}
	}
	return "", cgErr(syscall.EOPNOTSUPP, "/proc/self/cgroup: only cgroup v1 hierarchies, no '0::' line")
}

// parseMountinfo returns the mount point and root of the first cgroup2
// mount, the kernel's \ooo escapes undone.
func parseMountinfo(s string) (mnt, root string, err error) {
	v1 := false
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+1 >= len(f) {
			continue
		}
		switch f[sep+1] {
		case "cgroup2":
			return unescapeMount(f[4]), unescapeMount(f[3]), nil
		case "cgroup":
			v1 = true
		}
	}
	if v1 {
		return "", "", cgErr(syscall.EOPNOTSUPP, "/proc/self/mountinfo: only cgroup v1 is mounted, no cgroup2")
	}
	return "", "", cgErr(syscall.ENOENT, "/proc/self/mountinfo: no cgroup2 mount")
}

func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// checkHybrid refuses hybrid mode: a controller read here (cpu, cpuset,
// memory) on a v1 hierarchy, where the cgroup2 files would say "no limit"
// while v1 enforces one.
func checkHybrid(root, mnt, procCgroup string) error {
	v2, err := os.ReadFile(root + mnt + "/cgroup.controllers")
	if err != nil {
		return nil
	}
	have := strings.Fields(string(v2))
	for _, line := range strings.Split(procCgroup, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[0] == "0" {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if (c == "cpu" || c == "cpuset" || c == "memory") && !contains(have, c) {
				return cgErr(syscall.EOPNOTSUPP, "the %s controller is on a cgroup v1 hierarchy (hybrid mode), "+
					"not on the cgroup2 one at %s", c, mnt)
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (cg *cgroupDir) has(dir, file string) bool {
	_, err := os.Stat(cg.root + dir + "/" + file)
	return err == nil
}

// check: the directory exists and is a cgroup v2 one (cgroup.controllers
// is in every cgroup v2 directory, the root included).
func (cg *cgroupDir) check() error {
	st, err := os.Stat(cg.root + cg.dir)
	if err != nil {
		return cgErr(errnoOf(err, syscall.ENOENT), "%s: %v", cg.dir, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return cgErr(syscall.ENOTDIR, "%s: not a directory, hence not a cgroup", cg.dir)
	}
	var sfs syscall.Statfs_t
	if syscall.Statfs(cg.root+cg.dir, &sfs) == nil && sfs.Type == 0x27e0eb { // CGROUP_SUPER_MAGIC
		return cgErr(syscall.EOPNOTSUPP, "%s: a cgroup v1 hierarchy (cgroup v2 is needed)", cg.dir)
	}
	if !cg.has(cg.dir, "cgroup.controllers") {
		return cgErr(syscall.ENOTDIR, "%s: not a cgroup v2 directory (no cgroup.controllers)", cg.dir)
	}
	return nil
}

// readFile returns a file's content, or ok false when it is absent (its
// controller is not enabled at that level: it limits nothing there).
func (cg *cgroupDir) readFile(dir, file string) (string, bool, error) {
	b, err := os.ReadFile(cg.root + dir + "/" + file)
	if err != nil {
		// ENODEV: kernfs answers it for a file of a removed cgroup.
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENODEV) {
			return "", false, nil
		}
		return "", false, cgErr(errnoOf(err, syscall.EIO), "%s/%s: %v", dir, file, err)
	}
	return string(b), true, nil
}

func (cg *cgroupDir) read() (*Limits, error) {
	if err := cg.check(); err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) {
			return nil, cgErr(syscall.ENODEV, "%s: the cgroup was removed", cg.dir)
		}
		return nil, err
	}
	l := &Limits{Dir: cg.dir, QuotaUs: Unlimited, PeriodUs: 100000, MemoryMax: Unlimited,
		MemoryHigh: Unlimited, Populated: true}
	levels := append([]string{cg.dir}, cg.ancestors...)
	for _, dir := range levels {
		if err := cg.readLevel(dir, l); err != nil {
			return nil, err
		}
	}
	if err := cg.readCPUs(levels, l); err != nil {
		return nil, err
	}
	if s, ok, err := cg.readFile(cg.dir, "cgroup.events"); err != nil {
		return nil, err
	} else if ok {
		for _, line := range strings.Split(s, "\n") {
			if strings.HasPrefix(line, "populated ") {
				l.Populated = strings.TrimSpace(strings.TrimPrefix(line, "populated ")) == "1"
			}
		}
	}
	if s, ok, err := cg.readFile(cg.dir, "memory.current"); err != nil {
		return nil, err
	} else if ok {
		v, err := parseMemory(s)
		if err != nil || v == Unlimited {
			return nil, cgErr(syscall.EINVAL, "%s/memory.current: not a number", cg.dir)
		}
		l.MemoryCurrent = v
	}
	l.PoolSize = PoolSize(len(l.CPUs), l.QuotaUs, l.PeriodUs)
	return l, nil
}

func (cg *cgroupDir) readLevel(dir string, l *Limits) error {
	if s, ok, err := cg.readFile(dir, "cpu.max"); err != nil {
		return err
	} else if ok {
		q, p, err := parseCPUMax(s)
		if err != nil {
			return cgErr(errnoOf(err, syscall.EINVAL), "%s/cpu.max: %v", dir, err)
		}
		// Tighter: q/p < quota/period, compared exactly.
		if q != Unlimited && (l.QuotaUs == Unlimited || less128(q, l.PeriodUs, l.QuotaUs, p)) {
			l.QuotaUs, l.PeriodUs = q, p
		}
	}
	for _, f := range []struct {
		name string
		dst  *uint64
	}{{"memory.max", &l.MemoryMax}, {"memory.high", &l.MemoryHigh}} {
		s, ok, err := cg.readFile(dir, f.name)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		v, err := parseMemory(s)
		if err != nil {
			return cgErr(errnoOf(err, syscall.EINVAL), "%s/%s: %v", dir, f.name, err)
		}
		if v < *f.dst {
			*f.dst = v
		}
	}
	return nil
}

// less128 is a*b < c*d without overflow.
func less128(a, b, c, d uint64) bool {
	h1, l1 := bits.Mul64(a, b)
	h2, l2 := bits.Mul64(c, d)
	return h1 < h2 || (h1 == h2 && l1 < l2)
}

// readCPUs: the cgroup's cpuset.cpus.effective, else the nearest
// ancestor's (without the cpuset controller a cgroup runs on its parent's
// set), else the online CPUs.
func (cg *cgroupDir) readCPUs(levels []string, l *Limits) error {
	for _, dir := range append(levels, "/sys/devices/system/cpu") {
		file := "cpuset.cpus.effective"
		if dir == "/sys/devices/system/cpu" {
			file = "online"
		}
		s, ok, err := cg.readFile(dir, file)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		cpus, err := parseCPUList(s)
		if err != nil {
			return cgErr(syscall.EINVAL, "%s/%s: %v", dir, file, err)
		}
		l.CPUs = cpus
		return nil
	}
	return cgErr(syscall.ENOENT, "%s: no cpuset.cpus.effective here or above, no online CPU list", cg.dir)
}

func trimNewline(s string) string {
	return strings.TrimSuffix(s, "\n")
}

func parseDec(s string) (uint64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("'%s' is not a decimal number: %w", s, syscall.EINVAL)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s out of range: %w", s, syscall.ERANGE)
		}
		return 0, fmt.Errorf("'%s' is not a decimal number: %w", s, syscall.EINVAL)
	}
	return v, nil
}

// parseCPUMax parses "max 100000" or "50000 100000" (one trailing newline).
func parseCPUMax(s string) (quota, period uint64, err error) {
	f := strings.Split(trimNewline(s), " ")
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("expected 'QUOTA PERIOD' or 'max PERIOD': %w", syscall.EINVAL)
	}
	quota = Unlimited
	if f[0] != "max" {
		if quota, err = parseDec(f[0]); err != nil {
			return 0, 0, err
		}
		if quota < cpuQuotaMinUs {
			return 0, 0, fmt.Errorf("quota %d us below the kernel's minimum %d: %w", quota, cpuQuotaMinUs, syscall.ERANGE)
		}
	}
	if period, err = parseDec(f[1]); err != nil {
		return 0, 0, err
	}
	if period < cpuPeriodMinUs || period > cpuPeriodMaxUs {
		return 0, 0, fmt.Errorf("period %d us outside the kernel's %d..%d: %w", period, cpuPeriodMinUs,
			cpuPeriodMaxUs, syscall.ERANGE)
	}
	return quota, period, nil
}

// parseMemory parses "max" or a byte count.
func parseMemory(s string) (uint64, error) {
	s = trimNewline(s)
	if s == "max" {
		return Unlimited, nil
	}
	return parseDec(s)
}

const cpuListMax = 1 << 16 // CPUs a list may name (the kernel's NR_CPUS is at most 8192)

// parseCPUList parses the kernel's list format ("0-3,8\n"; "" or "\n" is
// the empty set).
func parseCPUList(s string) ([]int, error) {
	s = trimNewline(s)
	var out []int
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi := part, part
		if i := strings.IndexByte(part, '-'); i >= 0 {
			lo, hi = part[:i], part[i+1:]
		}
		a, err1 := parseDec(lo)
		b, err2 := parseDec(hi)
		if err1 != nil || err2 != nil || a > b || b >= cpuListMax {
			return nil, fmt.Errorf("bad range '%s'", part)
		}
		for c := a; c <= b; c++ {
			out = append(out, int(c))
		}
	}
	sort.Ints(out)
	dedup := out[:0]
	for i, c := range out {
		if i == 0 || c != out[i-1] {
			dedup = append(dedup, c)
		}
	}
	return dedup, nil
}

func formatCPUList(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j == i {
			fmt.Fprintf(&b, "%d", cpus[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", cpus[i], cpus[j])
		}
		i = j + 1
	}
	return b.String()
}
