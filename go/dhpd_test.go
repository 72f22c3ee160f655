// SPDX-License-Identifier: MIT

package dhp

// Tests against a real dhpd --platform sim (the build's, $DHPD, default
// ../build/src/dhpd) on a socket in a temporary directory.  Every wait is
// bounded and on an event: no sleeping and hoping.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const waitLimit = 20 * time.Second // generous: the machine is shared

type daemon struct {
	t    *testing.T
	bin  string
	dir  string
	sock string
	sim  string
	cmd  *exec.Cmd
}

func dhpdPath(t *testing.T) string {
	p := os.Getenv("DHPD")
	if p == "" {
		p = "../build/src/dhpd"
		if _, err := os.Stat(p); err != nil {
			t.Skip("no dhpd: build it (make build) or set DHPD=path/to/dhpd")
		}
	}
	p, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("DHPD=%s: %v", p, err)
	}
	return p
}

// startDaemon runs dhpd --platform sim in a temporary directory and waits
// for its READY line.
func startDaemon(t *testing.T, sim string) *daemon {
	t.Helper()
	return startDaemonIn(t, sim, t.TempDir())
}

// worldDir is a temporary directory others may enter (t.TempDir's parent
// is private).
func worldDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "dhp-go-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startDaemonIn(t *testing.T, sim, dir string) *daemon {
	t.Helper()
	d := &daemon{t: t, bin: dhpdPath(t), dir: dir, sim: sim}
	d.sock = filepath.Join(d.dir, "run", "dhpd.sock")
	conf := filepath.Join(d.dir, "dhpd.conf")
	if err := os.WriteFile(conf, []byte("[daemon]\nlog_level = warning\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.start()
	t.Cleanup(d.stop)
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	d.cmd = exec.Command(d.bin, "--platform", "sim", "--sim", d.sim, "--foreground",
		"--socket", d.sock, "-c", filepath.Join(d.dir, "dhpd.conf"))
	d.cmd.Stderr = os.Stderr
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		d.t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != "READY\n" {
			d.t.Fatalf("dhpd said %q instead of READY", line)
		}
	case <-time.After(waitLimit):
		d.t.Fatal("dhpd not READY in time")
	}
}

func (d *daemon) stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()
	d.cmd = nil
}

func (d *daemon) target() string { return "unix:" + d.sock }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, d *daemon, opt ...Option) *Conn {
	t.Helper()
	c, err := Dial(testCtx(t), d.target(), opt...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return v
	case <-time.After(waitLimit):
		t.Fatalf("%s: nothing within %v", what, waitLimit)
	}
	panic("unreachable")
}

// noMore checks that nothing is waiting on ch after a round trip to dhpd
// that follows everything dhpd sent before (its answers come in order).
func noMore[T any](t *testing.T, c *Conn, ch <-chan T, what string) {
	t.Helper()
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-ch:
		t.Fatalf("%s: unexpected %+v", what, v)
	default:
	}
}

func TestDialErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Dial(testCtx(t), "unix:"+filepath.Join(dir, "none.sock"))
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("no socket: %v, want ENOENT", err)
	}
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Text, "dhpd is not running") {
		t.Fatalf("no explanation: %v", err)
	}
	if _, err := Dial(testCtx(t), "sim"); !errors.Is(err, syscall.EPROTONOSUPPORT) {
		t.Fatalf("sim target: %v", err)
	}
	if p, err := ParseTarget(""); err != nil || (os.Getenv("DHP_TARGET") == "" && p != DefaultSocket) {
		t.Fatalf("default target: %q %v", p, err)
	}
	t.Setenv("DHP_TARGET", "unix:/x/y.sock")
	if p, _ := ParseTarget(""); p != "/x/y.sock" {
		t.Fatalf("DHP_TARGET: %q", p)
	}
}

func TestWelcomePingStatus(t *testing.T) {
	d := startDaemon(t, "cpus=2,maxcpus=8,memory=512M,block=128M,maxmem=4G")
	c := dial(t, d, WithName("go-status"))
	w := c.Welcome()
	if w.Major != 1 || !w.Simulated || w.MaxRegs == 0 {
		t.Fatalf("welcome %+v", w)
	}
	if os.Geteuid() == 0 && !w.Privileged {
		t.Fatalf("root not privileged: %+v", w)
	}
	ctx := testCtx(t)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Processors) != 8 || fmt.Sprint(st.Admitted()) != "[0 1]" {
		t.Fatalf("processors %v admitted %v", st.Processors, st.Admitted())
	}
	if len(st.Memory) == 0 {
		t.Fatalf("no memory device in %+v", st)
	}
	self := 0
	for _, cl := range st.Clients {
		if cl.Self {
			self++
			if !strings.HasPrefix(cl.Name, "go-status") || cl.PID != uint32(os.Getpid()) {
				t.Fatalf("self %+v", cl)
			}
		}
	}
	if self != 1 {
		t.Fatalf("clients %+v", st.Clients)
	}
}

func TestArrivalProcessor(t *testing.T) {
	requireRoot(t)
	d := startDaemon(t, "cpus=2,maxcpus=8")
	c := dial(t, d)
	ctx := testCtx(t)

	all, err := c.RegisterArrival(ctx, ClassProcessor, IncludeExisting, "go-all")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := c.RegisterArrival(ctx, ClassProcessor, 0, "go-new")
	if err != nil {
		t.Fatal(err)
	}
	// The present processors, before RegisterArrival returned.
	for _, want := range []string{"cpu0", "cpu1"} {
		a := recv(t, all.C(), "existing")
		if a.Name != want || !a.Existing || a.Event != EventArrival || a.Class != ClassProcessor {
			t.Fatalf("existing %+v, want %s", a, want)
		}
	}
	noMore(t, c, plain.C(), "registration without IncludeExisting")

	idx, admitted, err := c.SimCPUAdd(ctx)
	if err != nil || !admitted || idx != 2 {
		t.Fatalf("SimCPUAdd: %d %v %v", idx, admitted, err)
	}
	for _, r := range []*ArrivalReg{all, plain} {
		a := recv(t, r.C(), "arrival")
		if a.Name != "cpu2" || a.Existing || a.Processor != 2 || a.Event != EventArrival {
			t.Fatalf("arrival %+v", a)
		}
	}
	if err := plain.Unregister(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-plain.C(); ok {
		t.Fatal("channel open after Unregister")
	}
	if _, _, err := c.SimCPUAdd(ctx); err != nil {
		t.Fatal(err)
	}
	if a := recv(t, all.C(), "second arrival"); a.Name != "cpu3" {
		t.Fatalf("arrival %+v", a)
	}
}

func TestArrivalMemory(t *testing.T) {
	requireRoot(t)
	d := startDaemon(t, "cpus=2,maxcpus=8,memory=256M,block=128M,maxmem=4G")
	c := dial(t, d)
	ctx := testCtx(t)
	r, err := c.RegisterArrival(ctx, ClassMemory, 0, "go-mem")
	if err != nil {
		t.Fatal(err)
	}
	base, err := c.SimMemoryAdd(ctx, 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	a := recv(t, r.C(), "memory arrival")
	if a.Class != ClassMemory || a.Base != base || a.Size != 256<<20 || a.Existing {
		t.Fatalf("memory arrival %+v (base %#x)", a, base)
	}
}

func TestSimErrors(t *testing.T) {
	requireRoot(t)
	d := startDaemon(t, "cpus=2,maxcpus=2")
	c := dial(t, d)
	ctx := testCtx(t)
	_, _, err := c.SimCPUAdd(ctx)
	var errno syscall.Errno
	if err == nil || !errors.As(err, &errno) {
		t.Fatalf("SimCPUAdd with no free slot: %v", err)
	}
	err = c.SimRun(ctx, "bad.scenario", "frobnicate 3\n")
	var e *Error
	if !errors.As(err, &e) || !strings.HasPrefix(e.Text, "bad.scenario:1:") {
		t.Fatalf("bad scenario: %v", err)
	}
	if err := c.SimRun(ctx, "ok.scenario", "settle\n"); err != nil {
		t.Fatalf("good scenario: %v", err)
	}
}

func TestMemCond(t *testing.T) {
	requireRoot(t)
	d := startDaemon(t, "cpus=2,maxcpus=8,memory=1G,block=128M,maxmem=4G")
	c := dial(t, d)
	ctx := testCtx(t)
	if _, err := c.SubscribeMemCond(ctx, "NoSuchCondition"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("unknown name: %v", err)
	}
	if err := c.MemCondConfigure(ctx, "low=8M,high=24M"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.MemCondThreshold(ctx, ThresholdLowMemory); err != nil || v != 8<<20 {
		t.Fatalf("low threshold %d %v", v, err)
	}
	if err := c.MemCondConfigure(ctx, "low=nonsense"); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("bad spec: %v", err)
	}
	low, err := c.SubscribeMemCond(ctx, LowMemoryCondition)
	if err != nil {
		t.Fatal(err)
	}
	s := recv(t, low.C(), "initial")
	if !s.Initial || s.Set || low.IsSet() {
		t.Fatalf("initial %+v", s)
	}
	if err := c.SimRun(ctx, "low", "memory level available=4M\nsettle\n"); err != nil {
		t.Fatal(err)
	}
	s = recv(t, low.C(), "set")
	if !s.Set || s.Initial || s.Available != 4<<20 || !low.IsSet() {
		t.Fatalf("set %+v", s)
	}
	if err := c.SimRun(ctx, "high", "memory level available=600M\nsettle\n"); err != nil {
		t.Fatal(err)
	}
	if s = recv(t, low.C(), "clear"); s.Set || low.IsSet() {
		t.Fatalf("clear %+v", s)
	}
	if err := low.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMonitorHistory(t *testing.T) {
	requireRoot(t)
	d := startDaemon(t, "cpus=2,maxcpus=8")
	c := dial(t, d)
	ctx := testCtx(t)
	m, err := c.Monitor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := c.Monitor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.SimCPUAdd(ctx); err != nil {
		t.Fatal(err)
	}
	// The add's records, the admission of cpu2 among them, on both.
	for _, mon := range []*Monitor{m, m2} {
		for {
			r := recv(t, mon.C(), "record")
			if r.Method == "" || r.Event == "" {
				t.Fatalf("record %+v", r)
			}
			if r.Event == "ADMITTED" && r.Processor == 2 {
				break
			}
		}
	}
	if err := m2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := c.History(ctx, 0)
	if err != nil || len(h) == 0 {
		t.Fatalf("history %d %v", len(h), err)
	}
	for i := 1; i < len(h); i++ {
		if h[i].Seq <= h[i-1].Seq {
			t.Fatalf("history out of order at %d", i)
		}
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range st.Clients {
		if cl.Self && !cl.Monitor {
			t.Fatalf("not a monitor in dhpd: %+v", cl)
		}
	}
}

// A dhpd restart: the connection reports its loss, Reconnect re-registers
// everything; what happened meanwhile is reported once.
func TestReconnect(t *testing.T) {
	requireRoot(t)
	d := startDaemon(t, "cpus=2,maxcpus=8,memory=1G,block=128M,maxmem=4G")
	c := dial(t, d)
	ctx := testCtx(t)
	r, err := c.RegisterArrival(ctx, ClassProcessor, IncludeExisting, "go-re")
	if err != nil {
		t.Fatal(err)
	}
	recv(t, r.C(), "cpu0")
	recv(t, r.C(), "cpu1")
	if _, _, err := c.SimCPUAdd(ctx); err != nil {
		t.Fatal(err)
	}
	if a := recv(t, r.C(), "cpu2"); a.Name != "cpu2" {
		t.Fatalf("%+v", a)
	}
	if err := c.MemCondConfigure(ctx, "low=8M,high=24M"); err != nil {
		t.Fatal(err)
	}
	low, err := c.SubscribeMemCond(ctx, LowMemoryCondition)
	if err != nil {
		t.Fatal(err)
	}
	recv(t, low.C(), "initial")
	if err := c.SimRun(ctx, "low", "memory level available=4M\nsettle\n"); err != nil {
		t.Fatal(err)
	}
	recv(t, low.C(), "set")
	mon, err := c.Monitor(ctx)
	if err != nil {
		t.Fatal(err)
	}

	d.stop()
	select {
	case <-c.Lost():
	case <-time.After(waitLimit):
		t.Fatal("loss not reported")
	}
	if err := c.Ping(ctx); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Ping while away: %v", err)
	}
	if !low.IsSet() {
		t.Fatal("the last state is kept while dhpd is away")
	}
	// The new dhpd has cpu0..cpu2 from the start: cpu2 is known (not
	// reported again), a fresh sim has no cpu2 history otherwise.
	d.sim = "cpus=4,maxcpus=8,memory=1G,block=128M,maxmem=4G"
	d.start()
	if err := c.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	// cpu3 arrived while dhpd was away: an arrival, not existing.
	if a := recv(t, r.C(), "arrived while away"); a.Name != "cpu3" || a.Existing || a.Event != EventArrival {
		t.Fatalf("%+v", a)
	}
	noMore(t, c, r.C(), "after reconnect")
	// The new dhpd's state for the event: clear (default levels).
	s := recv(t, low.C(), "initial after reconnect")
	if !s.Initial || s.Set || low.IsSet() {
		t.Fatalf("%+v", s)
	}
	// The registrations work on the new connection.
	if _, _, err := c.SimCPUAdd(ctx); err != nil {
		t.Fatal(err)
	}
	if a := recv(t, r.C(), "after reconnect"); a.Name != "cpu4" || a.Existing {
		t.Fatalf("%+v", a)
	}
	for {
		rec := recv(t, mon.C(), "record after reconnect")
		if rec.Event == "ADMITTED" && rec.Processor == 4 {
			break
		}
	}
}

// A device gone while dhpd was away is reported as a removal, so the next
// arrival of its name is reported too.
func TestReconnectRemoval(t *testing.T) {
	requireRoot(t)
	d := startDaemon(t, "cpus=2,maxcpus=8")
	c := dial(t, d, WithReconnect(20*time.Millisecond))
	ctx := testCtx(t)
	r, err := c.RegisterArrival(ctx, ClassProcessor, 0, "go-rm")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.SimCPUAdd(ctx); err != nil {
		t.Fatal(err)
	}
	recv(t, r.C(), "cpu2")
	lost := c.Lost()
	d.stop()
	<-lost
	d.start() // a fresh sim: cpu0, cpu1
	a := recv(t, r.C(), "removal")
	if a.Name != "cpu2" || a.Event != EventRemoval {
		t.Fatalf("%+v", a)
	}
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	idx, _, err := c.SimCPUAdd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := recv(t, r.C(), "cpu2 again"); a.Name != "cpu2" || a.Event != EventArrival || idx != 2 {
		t.Fatalf("%+v idx %d", a, idx)
	}
}

func TestUnprivileged(t *testing.T) {
	requireRoot(t)
	if os.Getenv("DHP_GO_TEST_CHILD") == "nobody" {
		return
	}
	d := startDaemonIn(t, "cpus=2,maxcpus=8", worldDir(t))
	// A child process as nobody: a copy of the test binary itself (the
	// go tool's directory is private), running TestUnprivilegedChild.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(d.dir, "child.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestUnprivilegedChild$", "-test.v")
	cmd.Dir = d.dir
	cmd.Env = append(os.Environ(), "DHP_GO_TEST_CHILD=nobody", "DHP_TARGET="+d.target())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestUnprivilegedChild(t *testing.T) {
	if os.Getenv("DHP_GO_TEST_CHILD") != "nobody" {
		t.Skip("run by TestUnprivileged")
	}
	ctx := testCtx(t)
	c, err := Dial(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Welcome().Privileged {
		t.Fatal("nobody privileged")
	}
	_, _, err = c.SimCPUAdd(ctx)
	var e *Error
	if !errors.Is(err, syscall.EPERM) || !errors.As(err, &e) || e.Text == "" {
		t.Fatalf("SimCPUAdd as nobody: %v", err)
	}
	// Anyone may register for arrivals and read the status.
	if _, err := c.RegisterArrival(ctx, ClassProcessor, IncludeExisting, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
}

func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: dhpd's sim control is privileged (uid 0 or the dhp group)")
	}
}
