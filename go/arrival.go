// SPDX-License-Identifier: MIT

package dhp

import (
	"context"
	"sync"
)

// Class is the kind of a device.
type Class uint32

const (
	ClassProcessor Class = 1
	ClassMemory    Class = 2
)

func (c Class) String() string {
	switch c {
	case ClassProcessor:
		return "processor"
	case ClassMemory:
		return "memory"
	}
	return "unknown"
}

// EventKind tells an arrival from a removal.
type EventKind uint32

const (
	EventArrival EventKind = 1
	EventRemoval EventKind = 2
)

func (e EventKind) String() string {
	if e == EventRemoval {
		return "removal"
	}
	return "arrival"
}

// ArrivalFlags for RegisterArrival.
type ArrivalFlags uint32

// IncludeExisting reports the devices present at registration first, with
// Existing set, before RegisterArrival returns (DHP_ARRIVAL_INCLUDE_EXISTING).
const IncludeExisting ArrivalFlags = 1

// Arrival is one arrival or removal notification.
type Arrival struct {
	Class     Class
	Event     EventKind
	Existing  bool   // present at registration (IncludeExisting), not an arrival
	Processor uint32 // processors: the logical index
	Base      uint64 // memory: the device's range
	Size      uint64
	Name      string // the device's name in dhpd, e.g. "cpu2"
}

// ArrivalReg is an arrival registration; its notifications come on C().
type ArrivalReg struct {
	c     *Conn
	id    uint32
	class Class
	flags ArrivalFlags
	name  string
	q     *queue[Arrival]

	mu sync.Mutex
	// The devices this registration knows of (reported, or present when
	// it was made), by name, with the last notification about each: as
	// in the C library, every ARRIVAL_REGISTER asks dhpd for the present
	// devices; at the first one they are reported only with
	// IncludeExisting, after a reconnect those not known are arrivals,
	// and nothing is reported twice.
	known       map[string]Arrival
	reconnected bool
	seen        map[string]bool // during a re-registration: present in dhpd
}

// RegisterArrival asks for every arrival and removal of devices of a
// class.  With IncludeExisting the devices present now are delivered first
// (Existing true).  name (may be empty) is how dhpd's records name the
// registration.  The channel is closed by Unregister or Conn.Close.
func (c *Conn) RegisterArrival(ctx context.Context, class Class, flags ArrivalFlags, name string) (*ArrivalReg, error) {
	if err := validName(name, wireNameMax); err != nil {
		return nil, err
	}
	r := &ArrivalReg{c: c, id: c.newReg(), class: class, flags: flags, name: name, q: newQueue[Arrival](),
		known: map[string]Arrival{}}
	c.mu.Lock()
	c.arrivals[r.id] = r
	c.mu.Unlock()
	if _, _, err := c.call(ctx, r.registerMsg()); err != nil {
		c.mu.Lock()
		delete(c.arrivals, r.id)
		c.mu.Unlock()
		r.q.close()
		if ctx.Err() != nil { // dhpd may have taken it: take it back
			c.send(newMsg(tArrivalUnregister, 0).set("reg", r.id))
		}
		return nil, err
	}
	return r, nil
}

func (r *ArrivalReg) registerMsg() *msg {
	// Always INCLUDE_EXISTING: what is present now is known, reported
	// only if asked for.
	return newMsg(tArrivalRegister, 0).set("reg", r.id, "class", uint32(r.class), "flags", 1, "name", r.name)
}

// C returns the channel of notifications.
func (r *ArrivalReg) C() <-chan Arrival { return r.q.out }

// deliver filters one ARRIVAL read from dhpd (the reader's goroutine).
func (r *ArrivalReg) deliver(m *msg) {
	cls := Class(m.u32("class"))
	if cls != ClassProcessor && cls != ClassMemory {
		return
	}
	a := Arrival{Class: cls, Event: EventArrival, Processor: m.u32("index"), Base: m.u("base"),
		Size: m.u("size"), Name: m.s("name")}
	existing := m.u32("flags")&arrivalExisting != 0
	if EventKind(m.u32("event")) == EventRemoval {
		a.Event = EventRemoval
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.Event == EventRemoval {
		delete(r.known, a.Name)
		if r.seen != nil {
			delete(r.seen, a.Name)
		}
		r.q.push(a)
		return
	}
	if r.seen != nil {
		r.seen[a.Name] = true
	}
	if _, ok := r.known[a.Name]; ok {
		return
	}
	r.known[a.Name] = a
	if existing && !r.reconnected {
		if r.flags&IncludeExisting == 0 {
			return
		}
		a.Existing = true
	}
	r.q.push(a)
}

// reregister sends the registration again on a new connection, then
// reports the known devices dhpd no longer has as removals.
func (r *ArrivalReg) reregister(ctx context.Context) error {
	r.mu.Lock()
	r.reconnected = true
	r.seen = map[string]bool{}
	r.mu.Unlock()
	_, _, err := r.c.call(ctx, r.registerMsg())
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		// Every present device came before the REPLY.
		for name, a := range r.known {
			if !r.seen[name] {
				delete(r.known, name)
				a.Event, a.Existing = EventRemoval, false
				r.q.push(a)
			}
		}
	}
	r.seen = nil
	return err
}

// Unregister ends the registration and closes its channel.  Unlike the
// C library it does wait for dhpd's answer (ctx bounds the wait); a lost
// connection counts as success, the registration is gone with it.
func (r *ArrivalReg) Unregister(ctx context.Context) error {
	c := r.c
	c.mu.Lock()
	_, ok := c.arrivals[r.id]
	delete(c.arrivals, r.id)
	c.mu.Unlock()
	if !ok {
		return nil
	}
	r.q.close()
	_, _, err := c.call(ctx, newMsg(tArrivalUnregister, 0).set("reg", r.id))
	if isConnLost(err) {
		return nil
	}
	return err
}
