// SPDX-License-Identifier: MIT

package dhp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultSocket is dhpd's socket when neither the target nor $DHP_TARGET
// names one.
const DefaultSocket = "/run/dhp/dhpd.sock"

// handshakeTimeout bounds HELLO/WELCOME as the C library does, when the
// caller's context has no earlier deadline.
const handshakeTimeout = 5 * time.Second

// Welcome is what dhpd said at the handshake.
type Welcome struct {
	Major, Minor uint16
	Privileged   bool // this process may drive the sim, configure thresholds ...
	Simulated    bool // dhpd runs --platform sim: its processors are not this machine's
	MaxRegs      uint32
	MaxQueue     uint32
	MaxMsg       uint32
	ClientID     uint64
}

// Option changes how Dial connects.
type Option func(*options)

type options struct {
	name      string
	reconnect bool
	retry     time.Duration
}

// WithName sets the client name dhpd shows in its status and records
// (default: the program's base name).
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithReconnect makes the connection come back by itself after a loss
// (a dhpd restart): it retries every interval until it succeeds or the Conn
// is closed, and re-registers as Reconnect does.  The C library never
// reconnects by itself; without this option neither does this package.
func WithReconnect(interval time.Duration) Option {
	return func(o *options) {
		o.reconnect = true
		o.retry = interval
	}
}

// Conn is a connection to dhpd.  Its methods are safe for concurrent use.
type Conn struct {
	path string
	opts options

	nextID  atomic.Uint64
	dropped atomic.Uint64
	rmu     sync.Mutex // serialises Reconnect
	ctx     context.Context
	cancel  context.CancelFunc
	readers sync.WaitGroup

	mu       sync.Mutex // everything below
	nc       *net.UnixConn
	lost     chan struct{} // closed when nc is lost
	up       chan struct{} // closed while connected and registered
	isUp     bool
	welcome  Welcome
	closed   bool
	pending  map[uint64]*request
	nextReg  uint32
	arrivals map[uint32]*ArrivalReg
	memconds map[uint32]*MemCond
	monitors map[*Monitor]struct{}
}

type request struct {
	op    string
	parts []*msg
	reply *msg
	err   error
	done  chan struct{}
}

// ParseTarget returns the socket path of a target: "unix:PATH", or "" for
// $DHP_TARGET, else DefaultSocket.  Other target kinds of the C library
// ("sim", "linux", "cgroup") run in-process there and have no daemon to
// talk to: EPROTONOSUPPORT.
func ParseTarget(target string) (string, error) {
	if target == "" {
		target = os.Getenv("DHP_TARGET")
	}
	if target == "" {
		return DefaultSocket, nil
	}
	if strings.HasPrefix(target, "unix:") {
		p := strings.TrimPrefix(target, "unix:")
		if p == "" || len(p) >= 108 {
			return "", &Error{Op: "open", Errno: syscall.EINVAL, Text: fmt.Sprintf("bad socket path '%s'", p)}
		}
		return p, nil
	}
	return "", &Error{Op: "open", Errno: syscall.EPROTONOSUPPORT,
		Text: fmt.Sprintf("target '%s': the Go package is a client of dhpd (unix:PATH); use the C library for in-process targets", target)}
}

// Dial connects to dhpd at target ("unix:PATH", or "" for $DHP_TARGET,
// else unix:/run/dhp/dhpd.sock) and does the handshake.  Errors wrap
// ENOENT or ECONNREFUSED (dhpd not running), EACCES, EPROTONOSUPPORT
// (another major protocol version), ETIMEDOUT (no WELCOME in time).
func Dial(ctx context.Context, target string, opt ...Option) (*Conn, error) {
	path, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	c := &Conn{path: path, pending: map[uint64]*request{}, arrivals: map[uint32]*ArrivalReg{},
		memconds: map[uint32]*MemCond{}, monitors: map[*Monitor]struct{}{}}
	c.opts.name = filepath.Base(os.Args[0])
	for _, o := range opt {
		o(&c.opts)
	}
	if len(c.opts.name) >= wireNameMax {
		c.opts.name = c.opts.name[:wireNameMax-1]
	}
	if c.opts.retry <= 0 {
		c.opts.retry = 100 * time.Millisecond
	}
	c.nextID.Store(1)
	c.up = make(chan struct{})
	c.ctx, c.cancel = context.WithCancel(context.Background())
	nc, w, err := c.handshake(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.install(nc, w) // cannot be closed yet
	c.markUp(nc)
	return c, nil
}

// markUp tells WaitConnected that nc is connected with every registration
// re-sent, if nc is still the connection.
func (c *Conn) markUp(nc *net.UnixConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc == nc && !c.isUp {
		close(c.up)
		c.isUp = true
	}
}

func (c *Conn) handshake(ctx context.Context) (*net.UnixConn, Welcome, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "unixpacket", c.path)
	if err != nil {
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			if ctx.Err() != nil {
				return nil, Welcome{}, ctx.Err()
			}
			errno = syscall.ECONNREFUSED
		}
		text := fmt.Sprintf("cannot connect to %s: %s", c.path, errno.Error())
		if errno == syscall.ENOENT || errno == syscall.ECONNREFUSED {
			text = fmt.Sprintf("dhpd is not running (nothing answers on %s); start it with 'systemctl start dhpd' or 'dhpd --socket %s'", c.path, c.path)
		} else if errno == syscall.EACCES {
			text = fmt.Sprintf("cannot reach %s: permission denied on the socket or its directory", c.path)
		}
		return nil, Welcome{}, &Error{Op: "connect", Errno: errno, Text: text}
	}
	nc := raw.(*net.UnixConn)
	deadline := time.Now().Add(handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	// A cancelled context ends the handshake at once.
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
			nc.SetDeadline(time.Unix(1, 0))
		case <-stop:
		}
	}()
	var once sync.Once
	endWatch := func() {
		once.Do(func() { close(stop) })
		<-stopped
	}
	fail := func(err error) (*net.UnixConn, Welcome, error) {
		endWatch()
		nc.Close()
		return nil, Welcome{}, err
	}
	hello := newMsg(tHello, c.nextID.Add(1)-1).set("major", wireVersionMajor, "minor", wireVersionMinor,
		"pid", os.Getpid(), "name", c.opts.name)
	b, err := hello.encode(make([]byte, 0, 128))
	if err != nil {
		return fail(err)
	}
	if _, err := nc.Write(b); err != nil {
		return fail(&Error{Op: "HELLO", Errno: errnoOf(err, syscall.ECONNRESET), Text: err.Error()})
	}
	buf := make([]byte, wireMsgMax+1)
	n, err := nc.Read(buf)
	if err != nil {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		e := errnoOf(err, syscall.ECONNRESET)
		if os.IsTimeout(err) {
			// The caller's deadline, not ours: say it is the context's.
			if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
				return fail(context.DeadlineExceeded)
			}
			e = syscall.ETIMEDOUT
		}
		return fail(&Error{Op: "HELLO", Errno: e, Text: fmt.Sprintf("handshake with dhpd on %s failed", c.path)})
	}
	m, err := decodeMsg(buf[:n])
	if err != nil {
		return fail(&Error{Op: "HELLO", Errno: errnoOf(err, syscall.EPROTO), Text: "bad answer to HELLO"})
	}
	switch {
	case m.typ == tError:
		e := syscall.EPROTO
		if st := m.i32("status"); st < 0 {
			e = syscall.Errno(-st)
		}
		return fail(&Error{Op: "HELLO", Errno: e, Text: m.s("text")})
	case m.typ != tWelcome:
		return fail(&Error{Op: "HELLO", Errno: syscall.EPROTO, Text: "dhpd answered " + m.spec.name})
	case m.u("major") != wireVersionMajor:
		return fail(&Error{Op: "HELLO", Errno: syscall.EPROTONOSUPPORT,
			Text: fmt.Sprintf("protocol version mismatch: this client speaks %d.%d, dhpd speaks %d.%d",
				wireVersionMajor, wireVersionMinor, m.u("major"), m.u("minor"))})
	}
	endWatch()
	if ctx.Err() != nil {
		return fail(ctx.Err())
	}
	nc.SetDeadline(time.Time{})
	fl := m.u32("flags")
	return nc, Welcome{Major: uint16(m.u("major")), Minor: uint16(m.u("minor")),
		Privileged: fl&welcomePrivileged != 0, Simulated: fl&welcomeSimulated != 0,
		MaxRegs: m.u32("max_regs"), MaxQueue: m.u32("max_queue"), MaxMsg: m.u32("max_msg"),
		ClientID: m.u("client_id")}, nil
}

func errnoOf(err error, def syscall.Errno) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return def
}

// install makes nc the connection and starts its reader; false (nc
// closed) when the Conn was closed meanwhile.
func (c *Conn) install(nc *net.UnixConn, w Welcome) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		nc.Close()
		return false
	}
	c.nc = nc
	c.lost = make(chan struct{})
	c.welcome = w
	lost := c.lost
	c.readers.Add(1) // under c.mu: Close's Wait comes after every Add
	c.mu.Unlock()
	go c.read(nc, lost)
	return true
}

// Welcome returns what dhpd said at the last handshake.
func (c *Conn) Welcome() Welcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.welcome
}

// Lost returns a channel closed when the current connection is lost (a
// dhpd restart, a protocol violation) or the Conn is closed.  After a
// Reconnect it returns a new channel.
func (c *Conn) Lost() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return c.lost
}

// WaitConnected returns once the Conn is connected with every registration
// in place: at once on a live connection, after the reconnection otherwise (WithReconnect, or another
// goroutine's Reconnect).  ctx.Err() when ctx ends first, EBADF once the
// Conn is closed.
func (c *Conn) WaitConnected(ctx context.Context) error {
	c.mu.Lock()
	up := c.up
	c.mu.Unlock()
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return &Error{Op: "wait", Errno: syscall.EBADF, Text: "the connection is closed"}
	}
}

// Close ends the connection and every registration: their channels are
// closed.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	nc := c.nc
	regs := make([]*ArrivalReg, 0, len(c.arrivals))
	for _, r := range c.arrivals {
		regs = append(regs, r)
	}
	mcs := make([]*MemCond, 0, len(c.memconds))
	for _, m := range c.memconds {
		mcs = append(mcs, m)
	}
	mons := make([]*Monitor, 0, len(c.monitors))
	for m := range c.monitors {
		mons = append(mons, m)
	}
	c.arrivals, c.memconds, c.monitors = map[uint32]*ArrivalReg{}, map[uint32]*MemCond{}, map[*Monitor]struct{}{}
	c.mu.Unlock()
	c.cancel()
	if nc != nil {
		nc.Close()
	}
	c.readers.Wait()
	for _, r := range regs {
		r.q.close()
	}
	for _, m := range mcs {
		m.q.close()
	}
	for _, m := range mons {
		m.q.close()
	}
	return nil
}

// read is the connection's reader: every message dhpd sends passes here,
// in order.
func (c *Conn) read(nc *net.UnixConn, lost chan struct{}) {
	defer c.readers.Done()
	buf := make([]byte, wireMsgMax+1)
	for {
		n, err := nc.Read(buf)
		if err != nil || n > wireMsgMax {
			break
		}
		m, err := decodeMsg(buf[:n])
		if err != nil || m.spec.fromClient || !c.dispatch(m) {
			break
		}
	}
	nc.Close()
	c.connectionLost(nc, lost)
}

func (c *Conn) connectionLost(nc *net.UnixConn, lost chan struct{}) {
	c.mu.Lock()
	if c.nc == nc {
		c.nc = nil
		if c.isUp {
			c.up, c.isUp = make(chan struct{}), false
		}
	}
	var fail []*request
	for id, r := range c.pending {
		fail = append(fail, r)
		delete(c.pending, id)
	}
	closed := c.closed
	select {
	case <-lost:
	default:
		close(lost)
	}
	c.mu.Unlock()
	for _, r := range fail {
		r.err = errConnLost(r.op)
		close(r.done)
	}
	if c.opts.reconnect && !closed {
		go c.keepReconnecting()
	}
}

func (c *Conn) keepReconnecting() {
	for {
		select {
		case <-c.ctx.Done():
			return
		default:
		}
		if err := c.reconnect(c.ctx, true); err == nil || c.ctx.Err() != nil {
			return
		}
		t := time.NewTimer(c.opts.retry)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (c *Conn) dispatch(m *msg) bool {
	switch m.typ {
	case tReply, tStatusProc, tStatusMem, tStatusMemName, tStatusMemBlocks, tStatusClient:
		c.replyPart(m)
	case tRecordRT, tRecordExt, tRecord:
		if m.id != 0 {
			c.replyPart(m) // HISTORY's answer
		} else {
			c.forwardRecord(recordFromMsg(m))
		}
	case tArrival:
		c.mu.Lock()
		r := c.arrivals[m.u32("reg")]
		c.mu.Unlock()
		if r != nil {
			r.deliver(m)
		}
	case tMemcondState:
		c.mu.Lock()
		mc := c.memconds[m.u32("sub")]
		c.mu.Unlock()
		if mc != nil {
			mc.deliver(m)
		}
	case tLost:
		c.forwardLost(m.u("count"))
	case tProcChange, tDeviceInfo, tDeviceRequest:
		// Never sent to this package: it makes no synchronous
		// registration and no device.  Ignored rather than fatal.
	default: // ERROR, or a type this client does not expect
		return false
	}
	return true
}

func (c *Conn) replyPart(m *msg) {
	c.mu.Lock()
	r := c.pending[m.id]
	if r != nil && m.typ == tReply {
		delete(c.pending, m.id)
	}
	c.mu.Unlock()
	if r == nil {
		return
	}
	if m.typ != tReply {
		r.parts = append(r.parts, m)
		return
	}
	r.reply = m
	if st := m.i32("status"); st < 0 {
		r.err = &Error{Op: r.op, Errno: syscall.Errno(-st), Text: m.s("text")}
	}
	close(r.done)
}

// send writes a message without waiting for an answer (id 0).
func (c *Conn) send(m *msg) error {
	b, err := m.encode(nil)
	if err != nil {
		return err
	}
	c.mu.Lock()
	nc := c.nc
	c.mu.Unlock()
	if nc == nil {
		return errConnLost(m.spec.name)
	}
	if _, err := nc.Write(b); err != nil {
		return errConnLost(m.spec.name)
	}
	return nil
}

// call sends a request and waits for its REPLY; the parts before it
// (STATUS_*, RECORD_EXT) come with it.  A negative status is an *Error.
func (c *Conn) call(ctx context.Context, m *msg) (*msg, []*msg, error) {
	m.id = c.nextID.Add(1) - 1
	b, err := m.encode(nil)
	if err != nil {
		return nil, nil, err
	}
	r := &request{op: m.spec.name, done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, nil, &Error{Op: r.op, Errno: syscall.EBADF, Text: "the connection is closed"}
	}
	nc := c.nc
	if nc == nil {
		c.mu.Unlock()
		return nil, nil, errConnLost(r.op)
	}
	c.pending[m.id] = r
	c.mu.Unlock()
	if _, err := nc.Write(b); err != nil {
		c.mu.Lock()
		delete(c.pending, m.id)
		c.mu.Unlock()
		return nil, nil, errConnLost(r.op)
	}
	select {
	case <-r.done:
		return r.reply, r.parts, r.err
	case <-ctx.Done():
		c.mu.Lock()
		if c.pending[m.id] == r {
			delete(c.pending, m.id)
		}
		c.mu.Unlock()
		return nil, nil, ctx.Err()
	}
}

func (c *Conn) newReg() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextReg++
	return c.nextReg
}

// Ping asks dhpd for an empty answer.
func (c *Conn) Ping(ctx context.Context) error {
	_, _, err := c.call(ctx, newMsg(tPing, 0))
	return err
}

// Reconnect replaces a lost connection (after a dhpd restart) and re-sends
// every registration, as the C library's dhp_reconnect() does: arrival
// registrations (the devices present that this registration did not know
// arrived while dhpd was away and are reported as arrivals, Existing
// false; no device is reported twice), memory condition subscriptions
// (their INITIAL state refreshes IsSet and is delivered), and the monitor.
// One addition to the C library: a device this registration knew that is
// no longer present is reported as a removal, so that a later arrival of
// the same name is reported too.  On a live connection Reconnect drops it
// and connects anew.
func (c *Conn) Reconnect(ctx context.Context) error {
	return c.reconnect(ctx, false)
}

// reconnect: onlyIfDown leaves a live connection alone (WithReconnect's
// loop, after an application's own Reconnect won the race).
func (c *Conn) reconnect(ctx context.Context, onlyIfDown bool) error {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return &Error{Op: "reconnect", Errno: syscall.EBADF, Text: "the connection is closed"}
	}
	old, lost := c.nc, c.lost
	c.mu.Unlock()
	if old != nil && onlyIfDown {
		return nil
	}
	if old != nil {
		old.Close()
		<-lost // its reader has failed what was pending
	}
	nc, w, err := c.handshake(ctx)
	if err != nil {
		return err
	}
	if !c.install(nc, w) {
		return &Error{Op: "reconnect", Errno: syscall.EBADF, Text: "the connection is closed"}
	}
	if err := c.reregister(ctx); err != nil {
		return err
	}
	c.markUp(nc)
	return nil
}

func (c *Conn) reregister(ctx context.Context) error {
	c.mu.Lock()
	regs := make([]*ArrivalReg, 0, len(c.arrivals))
	for _, r := range c.arrivals {
		regs = append(regs, r)
	}
	mcs := make([]*MemCond, 0, len(c.memconds))
	for _, m := range c.memconds {
		mcs = append(mcs, m)
	}
	nmon := len(c.monitors)
	c.mu.Unlock()
	// A refusal leaves the others to re-send, as the C library's
	// re-registration (sent without an id) does; only a lost connection
	// or the caller's context stops it.
	fatal := func(err error) bool { return err != nil && (isConnLost(err) || ctx.Err() != nil) }
	for _, r := range regs {
		if err := r.reregister(ctx); fatal(err) {
			return err
		}
	}
	for _, m := range mcs {
		if err := m.subscribe(ctx); fatal(err) {
			return err
		}
	}
	if nmon > 0 {
		if _, _, err := c.call(ctx, newMsg(tMonitorStart, 0)); fatal(err) {
			return err
		}
	}
	return nil
}
