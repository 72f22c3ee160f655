// SPDX-License-Identifier: MIT

package dhp

import "sync"

// queue delivers values to a channel in order without ever blocking the
// connection's reader: a registration whose channel is not read lets its
// own values pile up, never anyone else's.  dhpd bounds what it sends a
// slow connection (LOST), and the reader keeps reading, so the backlog is
// the application's to drain.
type queue[T any] struct {
	mu     sync.Mutex
	items  []T
	closed bool
	wake   chan struct{}
	done   chan struct{}
	out    chan T
}

func newQueue[T any]() *queue[T] {
	q := &queue[T]{wake: make(chan struct{}, 1), done: make(chan struct{}), out: make(chan T)}
	go q.pump()
	return q
}

func (q *queue[T]) push(v T) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, v)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue[T]) pump() {
	defer close(q.out)
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			closed := q.closed
			q.mu.Unlock()
			if closed {
				return
			}
			select {
			case <-q.wake:
			case <-q.done:
			}
			continue
		}
		var zero T
		v := q.items[0]
		q.items[0] = zero
		q.items = q.items[1:]
		q.mu.Unlock()
		select {
		case q.out <- v:
		case <-q.done:
			return
		}
	}
}

// close drops what was not delivered and closes the channel.
func (q *queue[T]) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	q.items = nil
	q.mu.Unlock()
	close(q.done)
}
