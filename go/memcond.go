// SPDX-License-Identifier: MIT

package dhp

import (
	"context"
	"sync"
)

// The memory condition events dhpd evaluates (doc/memcond.md).
const (
	LowMemoryCondition     = "LowMemoryCondition"
	HighMemoryCondition    = "HighMemoryCondition"
	LowCommitCondition     = "LowCommitCondition"
	HighCommitCondition    = "HighCommitCondition"
	MaximumCommitCondition = "MaximumCommitCondition"
)

// Threshold names a memory threshold for MemCondThreshold
// (dhp_memcond_threshold).
type Threshold uint32

const (
	ThresholdLowMemory     Threshold = 1
	ThresholdHighMemory    Threshold = 2
	ThresholdLowCommit     Threshold = 3
	ThresholdHighCommit    Threshold = 4
	ThresholdMaximumCommit Threshold = 5
)

// MemCondState is one state of a memory condition event.
type MemCondState struct {
	Set       bool   // the event is set (else clear)
	Initial   bool   // the state at subscription (or re-subscription after a reconnect)
	Available uint64 // bytes: the level that caused the transition
	Total     uint64
}

// MemCond is a subscription to one memory condition event.  dhpd sends
// every SET and CLEAR, in order, never dropped; the state is kept here
// while dhpd is away.
type MemCond struct {
	c    *Conn
	id   uint32
	name string
	q    *queue[MemCondState]

	mu    sync.Mutex
	state MemCondState
}

// SubscribeMemCond subscribes to an event by name (LowMemoryCondition ...).
// The current state is known when it returns (State, IsSet) and is also
// the first value on C() (Initial set).  ENOENT for an unknown name.
func (c *Conn) SubscribeMemCond(ctx context.Context, name string) (*MemCond, error) {
	if err := validName(name, wireMemcondNameMax); err != nil {
		return nil, err
	}
	m := &MemCond{c: c, id: c.newReg(), name: name, q: newQueue[MemCondState]()}
	c.mu.Lock()
	c.memconds[m.id] = m
	c.mu.Unlock()
	if err := m.subscribe(ctx); err != nil {
		c.mu.Lock()
		delete(c.memconds, m.id)
		c.mu.Unlock()
		m.q.close()
		if ctx.Err() != nil { // dhpd may have taken it: take it back
			c.send(newMsg(tMemcondUnsubscribe, 0).set("sub", m.id))
		}
		return nil, err
	}
	return m, nil
}

func (m *MemCond) subscribe(ctx context.Context) error {
	_, _, err := m.c.call(ctx, newMsg(tMemcondSubscribe, 0).set("sub", m.id, "name", m.name))
	return err
}

func (m *MemCond) deliver(w *msg) {
	fl := w.u32("flags")
	s := MemCondState{Set: fl&memcondSet != 0, Initial: fl&memcondInitial != 0,
		Available: w.u("available"), Total: w.u("total")}
	m.mu.Lock()
	m.state = s
	m.mu.Unlock()
	m.q.push(s)
}

// Name is the event's name.
func (m *MemCond) Name() string { return m.name }

// C returns the channel of states, the first one Initial.
func (m *MemCond) C() <-chan MemCondState { return m.q.out }

// State is the last state dhpd sent.
func (m *MemCond) State() MemCondState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// IsSet tells whether the event is set now, as far as dhpd last said.
func (m *MemCond) IsSet() bool { return m.State().Set }

// Close ends the subscription and closes its channel.
func (m *MemCond) Close(ctx context.Context) error {
	c := m.c
	c.mu.Lock()
	_, ok := c.memconds[m.id]
	delete(c.memconds, m.id)
	c.mu.Unlock()
	if !ok {
		return nil
	}
	m.q.close()
	_, _, err := c.call(ctx, newMsg(tMemcondUnsubscribe, 0).set("sub", m.id))
	if isConnLost(err) {
		return nil
	}
	return err
}

// MemCondConfigure changes dhpd's thresholds for every client, with the
// spec of dhp_memcond_configure() ("low=8M,high=24M"); privileged (EPERM),
// EINVAL with dhpd's message in the error's Text.
func (c *Conn) MemCondConfigure(ctx context.Context, spec string) error {
	if err := validName(spec, wireDetailMax); err != nil {
		return err
	}
	_, _, err := c.call(ctx, newMsg(tMemcondConfigure, 0).set("spec", spec))
	return err
}

// MemCondThreshold returns the threshold in force, in bytes.
func (c *Conn) MemCondThreshold(ctx context.Context, which Threshold) (uint64, error) {
	rep, _, err := c.call(ctx, newMsg(tMemcondGetThresh, 0).set("which", uint32(which)))
	if err != nil {
		return 0, err
	}
	return rep.u("v64"), nil
}
