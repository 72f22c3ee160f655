// SPDX-License-Identifier: MIT

package dhp

import "context"

// The simulated platform's control, for a dhpd started with --platform
// sim (EOPNOTSUPP otherwise); privileged (EPERM with the group to join).

// SimCPUAdd hot-adds one simulated processor and waits for the whole add
// (ADD_START, admission, ADD_COMPLETE or ADD_FAILURE).  admitted is false
// when a synchronous client vetoed it.
func (c *Conn) SimCPUAdd(ctx context.Context) (index uint32, admitted bool, err error) {
	rep, _, err := c.call(ctx, newMsg(tSimCPUAdd, 0))
	if err != nil {
		return 0, false, err
	}
	return rep.u32("v32"), rep.i32("status") == 0, nil
}

// SimMemoryAdd hot-adds a simulated memory device of size bytes and
// returns its base.
func (c *Conn) SimMemoryAdd(ctx context.Context, size uint64) (base uint64, err error) {
	rep, _, err := c.call(ctx, newMsg(tSimMemoryAdd, 0).set("size", size))
	if err != nil {
		return 0, err
	}
	return rep.u("v64"), nil
}

// SimRun runs a scenario (the text of a .scenario file) in dhpd; filename
// names it in messages.  A parse error's Text is "FILE:LINE:COL: message".
func (c *Conn) SimRun(ctx context.Context, filename, text string) error {
	if filename == "" {
		filename = "scenario"
	}
	if err := validName(filename, wireDetailMax); err != nil {
		return err
	}
	_, _, err := c.call(ctx, newMsg(tSimRun, 0).set("filename", filename, "text", []byte(text)))
	return err
}
