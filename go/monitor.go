// SPDX-License-Identifier: MIT

package dhp

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"time"
)

// Record is one record of dhpd's notification stream, what `dhpctl
// monitor` prints (doc/protocol.md, "Records").  An empty string is an
// absent field.
type Record struct {
	Seq         uint64
	TimeNs      uint64 // dhpd's monotonic clock
	Fields      uint32 // which numeric fields are meaningful (REC_* of src/core/engine-internal.h)
	Processor   uint32
	Group       uint16
	Number      uint8
	Base        uint64
	Size        uint64
	Block       uint64
	Duration    time.Duration
	Status      int32 // 0 or -errno
	Method      string
	Event       string
	Class       string
	Client      string
	Name        string
	Detail      string // extra JSON members, already encoded
	DetailText  string
	Device      string
	Driver      string
	Reason      string
	OldAffinity string
	NewAffinity string
	Stopped     time.Duration
	// Realtime is the wall-clock time dhpd made the record at (protocol
	// 1.3); the zero Time from an older dhpd.
	Realtime time.Time
}

func recordFromMsg(m *msg) Record {
	r := Record{Seq: m.u("seq"), TimeNs: m.u("t_ns"), Fields: m.u32("fields"), Processor: m.u32("processor"),
		Group: uint16(m.u("group")), Number: uint8(m.u("number")), Base: m.u("base"), Size: m.u("size"),
		Block: m.u("block"), Duration: time.Duration(m.u("dur_ns")), Status: m.i32("status"),
		Method: m.s("method"), Event: m.s("event"), Class: m.s("class"), Client: m.s("client"),
		Name: m.s("name"), Detail: m.s("detail")}
	if m.typ == tRecordRT && m.u("realtime_ns") != 0 {
		r.Realtime = time.Unix(0, int64(m.u("realtime_ns")))
	}
	if m.typ == tRecordExt || m.typ == tRecordRT {
		r.DetailText, r.Device, r.Driver = m.s("detail_text"), m.s("device"), m.s("driver")
		r.Reason, r.OldAffinity, r.NewAffinity = m.s("reason"), m.s("old_affinity"), m.s("new_affinity")
		r.Stopped = time.Duration(m.u("stopped_ns"))
	}
	return r
}

// Monitor receives dhpd's record stream.  Several Monitors of one Conn
// share dhpd's one stream.
type Monitor struct {
	c    *Conn
	q    *queue[Record]
	lost atomic.Uint64
}

// Monitor starts receiving every record dhpd makes from now on.
func (c *Conn) Monitor(ctx context.Context) (*Monitor, error) {
	m := &Monitor{c: c, q: newQueue[Record]()}
	c.mu.Lock()
	first := len(c.monitors) == 0
	c.monitors[m] = struct{}{}
	c.mu.Unlock()
	if first {
		_, _, err := c.call(ctx, newMsg(tMonitorStart, 0))
		if err != nil && !errors.Is(err, syscall.EALREADY) {
			c.mu.Lock()
			delete(c.monitors, m)
			c.mu.Unlock()
			m.q.close()
			return nil, err
		}
	}
	return m, nil
}

// C returns the channel of records.
func (m *Monitor) C() <-chan Record { return m.q.out }

// Lost is how many notifications (records and arrivals) dhpd dropped for
// this connection because it was read too slowly (LOST).
func (m *Monitor) Lost() uint64 { return m.lost.Load() }

// Close stops this monitor (and dhpd's stream with the last one) and
// closes its channel.
func (m *Monitor) Close(ctx context.Context) error {
	c := m.c
	c.mu.Lock()
	_, ok := c.monitors[m]
	delete(c.monitors, m)
	last := ok && len(c.monitors) == 0
	c.mu.Unlock()
	if !ok {
		return nil
	}
	m.q.close()
	if !last {
		return nil
	}
	_, _, err := c.call(ctx, newMsg(tMonitorStop, 0))
	if isConnLost(err) {
		return nil
	}
	return err
}

func (c *Conn) forwardRecord(r Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for m := range c.monitors {
		m.q.push(r)
	}
}

func (c *Conn) forwardLost(n uint64) {
	c.dropped.Add(n)
	c.mu.Lock()
	defer c.mu.Unlock()
	for m := range c.monitors {
		m.lost.Add(n)
	}
}

// History returns dhpd's newest kept records, oldest first (at most count;
// 0: as many as dhpd sends at once).  EBUSY while too much waits for this
// connection.
func (c *Conn) History(ctx context.Context, count uint32) ([]Record, error) {
	_, parts, err := c.call(ctx, newMsg(tHistory, 0).set("count", count))
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(parts))
	for _, p := range parts {
		if p.typ == tRecordRT || p.typ == tRecordExt || p.typ == tRecord {
			out = append(out, recordFromMsg(p))
		}
	}
	return out, nil
}

// Dropped is how many notifications (arrivals and records) dhpd dropped
// for this Conn since Dial because it read too slowly (LOST messages).
// Memory condition states and answers are never dropped.
func (c *Conn) Dropped() uint64 { return c.dropped.Load() }

func isConnLost(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}
