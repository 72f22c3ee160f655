// SPDX-License-Identifier: MIT

package dhp

import (
	"fmt"
	"syscall"
)

// Error is dhpd's refusal of a request, or a failure of the connection.
// It wraps the errno, so errors.Is(err, syscall.EPERM) and
// errors.As(err, &errno) work; Text is dhpd's explanation when it gave one
// (the privilege group to join, a scenario's "FILE:LINE:COL: message").
type Error struct {
	Op    string        // the request, e.g. "SIM_CPU_ADD"
	Errno syscall.Errno // positive: syscall.EPERM, syscall.ECONNRESET ...
	Text  string
}

func (e *Error) Error() string {
	if e.Text != "" {
		return fmt.Sprintf("dhp: %s: %s: %s", e.Op, e.Errno.Error(), e.Text)
	}
	return fmt.Sprintf("dhp: %s: %s", e.Op, e.Errno.Error())
}

func (e *Error) Unwrap() error { return e.Errno }

// errConnLost is what a request gets when the connection is gone, before
// or while it waits: the C library's -ECONNRESET.
func errConnLost(op string) error {
	return &Error{Op: op, Errno: syscall.ECONNRESET, Text: "the connection to dhpd was lost; Reconnect"}
}
