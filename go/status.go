// SPDX-License-Identifier: MIT

package dhp

import "context"

// ProcState is a processor slot's state in dhpd (dhp_proc_state).
type ProcState uint8

const (
	ProcAbsent   ProcState = 0
	ProcPresent  ProcState = 1
	ProcStarted  ProcState = 2
	ProcAdmitted ProcState = 3
)

func (s ProcState) String() string {
	switch s {
	case ProcAbsent:
		return "absent"
	case ProcPresent:
		return "present"
	case ProcStarted:
		return "started"
	case ProcAdmitted:
		return "admitted"
	}
	return "unknown"
}

// MemoryDevice is one memory device in dhpd's status.
type MemoryDevice struct {
	ID, Base, Size, BlockSize uint64
	Blocks, OnlineBlocks      uint32
	Name                      string // its name from a 1.3 dhpd ("memory@0x...", "virtio-mem:virtio2"), else ""
}

// ClientInfo is one client of dhpd in its status.
type ClientInfo struct {
	PID, UID        uint32
	Privileged      bool
	Monitor         bool
	Self            bool // the connection that asked
	SyncRegs        uint32
	ArrivalRegs     uint32
	DeadlinesMissed uint32
	Name            string
}

// Status is a snapshot of dhpd: every processor slot, memory device and
// client.
type Status struct {
	Processors []ProcState // by slot index
	Memory     []MemoryDevice
	Clients    []ClientInfo
}

// Admitted returns the indices of the admitted processors.
func (s *Status) Admitted() []uint32 {
	var out []uint32
	for i, p := range s.Processors {
		if p == ProcAdmitted {
			out = append(out, uint32(i))
		}
	}
	return out
}

// Status asks dhpd for its state.
func (c *Conn) Status(ctx context.Context) (*Status, error) {
	_, parts, err := c.call(ctx, newMsg(tStatus, 0))
	if err != nil {
		return nil, err
	}
	st := &Status{}
	for _, p := range parts {
		switch p.typ {
		case tStatusProc:
			first := int(p.u32("first"))
			states := p.blob("state")
			for len(st.Processors) < first+len(states) {
				st.Processors = append(st.Processors, ProcAbsent)
			}
			for i, v := range states {
				st.Processors[first+i] = ProcState(v)
			}
		case tStatusMem:
			st.Memory = append(st.Memory, MemoryDevice{ID: p.u("id"), Base: p.u("base"), Size: p.u("size"),
				BlockSize: p.u("block_size"), Blocks: p.u32("blocks"), OnlineBlocks: p.u32("online_blocks")})
		case tStatusMemName:
			// 1.3: the device's name (e.g. "virtio-mem:virtio2"), after its STATUS_MEM.
			for i := range st.Memory {
				if st.Memory[i].ID == p.u("id") {
					st.Memory[i].Name = p.s("name")
				}
			}
		case tStatusClient:
			fl := p.u32("flags")
			st.Clients = append(st.Clients, ClientInfo{PID: p.u32("pid"), UID: p.u32("uid"),
				Privileged: fl&clientPrivileged != 0, Monitor: fl&clientMonitor != 0, Self: fl&clientSelf != 0,
				SyncRegs: p.u32("sync_regs"), ArrivalRegs: p.u32("arrival_regs"),
				DeadlinesMissed: p.u32("late"), Name: p.s("name")})
		}
	}
	return st, nil
}
