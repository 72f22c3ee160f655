// SPDX-License-Identifier: MIT

package dhp

// The wire format of dhpd's socket (doc/protocol.md), described once: the
// table below gives every message's type, name, direction and payload
// layout, and the one encoder and decoder of this package are driven by it.
// wire_test.go compares the table with the C codec (the header's constants
// and a round trip of every message through ipcmsg_decode/ipcmsg_encode),
// so a change of the protocol that this package does not follow fails a
// test.

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"unicode/utf8"
)

// The protocol's version and limits (src/util/ipcmsg.h).
const (
	wireVersionMajor = 1
	wireVersionMinor = 3

	wireHeaderSize = 16
	wireMsgMax     = 65536 // a longer datagram is a protocol violation

	// String maxima, as the C header writes them: the size of the C field,
	// NUL included, so a string on the wire has at most max-1 bytes.
	wireNameMax         = 64
	wireTextMax         = 1024
	wireDetailMax       = 256
	wireRecordDetailMax = 1024
	wireStatusProcMax   = 1024
	wireMemcondNameMax  = 32
	wireAffinityMax     = 4096
	wireRecordMethodMax = 16
	wireRecordEventMax  = 32
	wireRecordClassMax  = 16
)

// Message types (enum ipc_type).
const (
	tHello              uint16 = 0x01
	tWelcome            uint16 = 0x02
	tReply              uint16 = 0x03
	tError              uint16 = 0x04
	tPing               uint16 = 0x05
	tProcRegister       uint16 = 0x10
	tProcDeregister     uint16 = 0x11
	tProcChange         uint16 = 0x12
	tProcAnswer         uint16 = 0x13
	tArrivalRegister    uint16 = 0x20
	tArrivalUnregister  uint16 = 0x21
	tArrival            uint16 = 0x22
	tMonitorStart       uint16 = 0x30
	tMonitorStop        uint16 = 0x31
	tRecord             uint16 = 0x32
	tLost               uint16 = 0x33
	tHistory            uint16 = 0x34
	tRecordExt          uint16 = 0x35
	tRecordRT           uint16 = 0x36
	tMemcondSubscribe   uint16 = 0x40
	tMemcondUnsubscribe uint16 = 0x41
	tMemcondState       uint16 = 0x42
	tMemcondConfigure   uint16 = 0x43
	tMemcondGetThresh   uint16 = 0x44
	tDeviceNew          uint16 = 0x50
	tDeviceFree         uint16 = 0x51
	tDeviceSet          uint16 = 0x52
	tDeviceQuery        uint16 = 0x53
	tDeviceInfo         uint16 = 0x54
	tClassOptout        uint16 = 0x55
	tDriverAttach       uint16 = 0x56
	tDriverDetach       uint16 = 0x57
	tDeviceRequest      uint16 = 0x58
	tDeviceAnswer       uint16 = 0x59
	tStatus             uint16 = 0x60
	tStatusProc         uint16 = 0x61
	tStatusMem          uint16 = 0x62
	tStatusClient       uint16 = 0x63
	tStatusMemName      uint16 = 0x64
	tStatusMemBlocks    uint16 = 0x65
	tSimCPUAdd          uint16 = 0x70
	tSimMemoryAdd       uint16 = 0x71
	tSimRun             uint16 = 0x72
	tSimCPUSurprise     uint16 = 0x73
	tCPURemove          uint16 = 0x80
	tMemoryRemove       uint16 = 0x81
	tCPUOnline          uint16 = 0x82
	tArrivalQuery       uint16 = 0x23
	tArrivalAnswer      uint16 = 0x24
)

// Reserved ranges: a type in them that this version lacks is answered
// REPLY -EOPNOTSUPP by dhpd.
var wireReserved = [][2]uint16{{0x40, 0x4f}, {0x50, 0x5f}}

// Flag bits.
const (
	welcomePrivileged = 1 << 0
	welcomeSimulated  = 1 << 1
	arrivalExisting   = 1 << 0
	memcondSet        = 1 << 0
	memcondInitial    = 1 << 1
	clientPrivileged  = 1 << 0
	clientMonitor     = 1 << 1
	clientSelf        = 1 << 2
)

type fieldKind uint8

const (
	fU8 fieldKind = iota
	fU16
	fU32
	fU64
	fI32
	fStr  // u16 count + bytes, count < max, no NUL
	fBlob // u32 count + bytes, count <= max (0: no maximum but the message's)
)

type field struct {
	name string
	kind fieldKind
	max  int
}

type msgSpec struct {
	typ        uint16
	name       string // as in ipcmsg_type_name()
	fromClient bool
	fields     []field
}

func u8(n string) field            { return field{n, fU8, 0} }
func u16(n string) field           { return field{n, fU16, 0} }
func u32(n string) field           { return field{n, fU32, 0} }
func u64(n string) field           { return field{n, fU64, 0} }
func i32(n string) field           { return field{n, fI32, 0} }
func str(n string, max int) field  { return field{n, fStr, max} }
func blob(n string, max int) field { return field{n, fBlob, max} }

// The record's fields shared by RECORD and RECORD_EXT.
var recordHead = []field{
	u64("seq"), u64("t_ns"), u32("fields"), u32("processor"), u16("group"), u8("number"),
	u64("base"), u64("size"), u64("block"), u64("dur_ns"), i32("status"),
	str("method", wireRecordMethodMax), str("event", wireRecordEventMax), str("class", wireRecordClassMax),
	str("client", wireNameMax), str("name", wireNameMax),
}

// RECORD_EXT's fields; RECORD_RT (1.3) adds the wall-clock time.
var recordExt = cat(recordHead, str("detail", wireRecordDetailMax),
	str("detail_text", wireDetailMax), str("device", wireNameMax), str("driver", wireNameMax),
	str("reason", wireNameMax), str("old_affinity", wireRecordDetailMax),
	str("new_affinity", wireRecordDetailMax), u64("stopped_ns"))

func cat(a []field, b ...field) []field {
	return append(append([]field(nil), a...), b...)
}

// wireTable is the protocol: one entry per message type.
var wireTable = []msgSpec{
	{tHello, "HELLO", true, []field{u16("major"), u16("minor"), u32("pid"), str("name", wireNameMax)}},
	{tWelcome, "WELCOME", false, []field{u16("major"), u16("minor"), u32("flags"), u32("max_regs"),
		u32("max_queue"), u32("max_msg"), u64("client_id")}},
	{tReply, "REPLY", false, []field{i32("status"), u32("v32"), u64("v64"), str("text", wireTextMax)}},
	{tError, "ERROR", false, []field{i32("status"), str("text", wireDetailMax)}},
	{tPing, "PING", true, nil},
	{tProcRegister, "PROC_REGISTER", true, []field{u32("reg"), u32("flags"), str("name", wireNameMax)}},
	{tProcDeregister, "PROC_DEREGISTER", true, []field{u32("reg")}},
	{tProcChange, "PROC_CHANGE", false, []field{u64("txn"), u32("state"), u32("index"), i32("status")}},
	{tProcAnswer, "PROC_ANSWER", true, []field{u64("txn"), u32("state"), i32("status"), u32("ncalls"), u64("dur_ns")}},
	{tArrivalRegister, "ARRIVAL_REGISTER", true, []field{u32("reg"), u32("class"), u32("flags"), str("name", wireNameMax)}},
	{tArrivalUnregister, "ARRIVAL_UNREGISTER", true, []field{u32("reg")}},
	{tArrival, "ARRIVAL", false, []field{u32("reg"), u32("class"), u32("event"), u32("flags"), u32("index"),
		u64("base"), u64("size"), str("name", wireNameMax)}},
	{tMonitorStart, "MONITOR_START", true, nil},
	{tMonitorStop, "MONITOR_STOP", true, nil},
	{tRecord, "RECORD", false, cat(recordHead, str("detail", wireDetailMax))},
	{tLost, "LOST", false, []field{u64("count")}},
	{tHistory, "HISTORY", true, []field{u32("count")}},
	{tRecordExt, "RECORD_EXT", false, recordExt},
	{tRecordRT, "RECORD_RT", false, cat(recordExt, u64("realtime_ns"))},
	{tMemcondSubscribe, "MEMCOND_SUBSCRIBE", true, []field{u32("sub"), str("name", wireMemcondNameMax)}},
	{tMemcondUnsubscribe, "MEMCOND_UNSUBSCRIBE", true, []field{u32("sub")}},
	{tMemcondState, "MEMCOND_STATE", false, []field{u32("sub"), u32("flags"), u64("available"), u64("total")}},
	{tMemcondConfigure, "MEMCOND_CONFIGURE", true, []field{str("spec", wireDetailMax)}},
	{tMemcondGetThresh, "MEMCOND_GET_THRESHOLD", true, []field{u32("which")}},
	{tDeviceNew, "DEVICE_NEW", true, []field{u32("dev"), str("name", wireNameMax), str("setup_class", wireNameMax)}},
	{tDeviceFree, "DEVICE_FREE", true, []field{u32("dev")}},
	{tDeviceSet, "DEVICE_SET", true, []field{u32("dev"), u32("what"), u32("value"), str("cpulist", wireAffinityMax)}},
	{tDeviceQuery, "DEVICE_QUERY", true, []field{u32("dev")}},
	{tDeviceInfo, "DEVICE_INFO", false, []field{u32("dev"), u32("flags"), u64("stopped_last"), u64("stopped_max"),
		str("affinity", wireAffinityMax)}},
	{tClassOptout, "CLASS_OPTOUT", true, []field{u32("op"), u32("optout"), str("setup_class", wireNameMax)}},
	{tDriverAttach, "DRIVER_ATTACH", true, []field{u32("dev"), u32("drv"), u32("level"), str("name", wireNameMax)}},
	{tDriverDetach, "DRIVER_DETACH", true, []field{u32("drv")}},
	{tDeviceRequest, "DEVICE_REQUEST", false, []field{u64("seq"), u32("dev"), u32("drv"), u32("req"),
		u32("processor"), u32("vectors"), str("old_affinity", wireAffinityMax), str("new_affinity", wireAffinityMax)}},
	{tDeviceAnswer, "DEVICE_ANSWER", true, []field{u64("seq"), i32("status"), u64("dur_ns")}},
	{tStatus, "STATUS", true, nil},
	{tStatusProc, "STATUS_PROC", false, []field{u32("first"), blob("state", wireStatusProcMax)}},
	{tStatusMem, "STATUS_MEM", false, []field{u64("id"), u64("base"), u64("size"), u64("block_size"),
		u32("blocks"), u32("online_blocks")}},
	{tStatusClient, "STATUS_CLIENT", false, []field{u32("pid"), u32("uid"), u32("flags"), u32("sync_regs"),
		u32("arrival_regs"), u32("late"), str("name", wireNameMax)}},
	{tSimCPUAdd, "SIM_CPU_ADD", true, nil},
	{tSimMemoryAdd, "SIM_MEMORY_ADD", true, []field{u64("size")}},
	{tSimRun, "SIM_RUN", true, []field{str("filename", wireDetailMax), blob("text", 0)}},
	{tStatusMemBlocks, "STATUS_MEM_BLOCKS", false, []field{u64("device"), u64("first_block"), u32("count"),
		u32("state"), u32("zone")}},
	{tCPUOnline, "CPU_ONLINE", true, []field{u32("index")}},
	// 1.3: removal.  A memory removal's query to an arrival registration
	// that opted in (this package never opts in, so never receives one),
	// and its answer; STATUS_MEM_NAME after each STATUS_MEM; the
	// privileged removal requests and the simulator's surprise removal.
	{tArrivalQuery, "ARRIVAL_QUERY", false, []field{u64("seq"), u32("reg"), u32("event"), i32("status"),
		u64("base"), u64("size"), str("name", wireNameMax)}},
	{tArrivalAnswer, "ARRIVAL_ANSWER", true, []field{u64("seq"), i32("status")}},
	{tStatusMemName, "STATUS_MEM_NAME", false, []field{u64("id"), u32("node"), u32("flags"), str("name", wireNameMax)}},
	{tSimCPUSurprise, "SIM_CPU_SURPRISE", true, []field{u32("index")}},
	{tCPURemove, "CPU_REMOVE", true, []field{u32("index")}},
	{tMemoryRemove, "MEMORY_REMOVE", true, []field{str("name", wireNameMax)}},
}

var wireByType = func() map[uint16]*msgSpec {
	m := make(map[uint16]*msgSpec, len(wireTable))
	for i := range wireTable {
		m[wireTable[i].typ] = &wireTable[i]
	}
	return m
}()

func wireIsReserved(t uint16) bool {
	if _, ok := wireByType[t]; ok {
		return false
	}
	for _, r := range wireReserved {
		if t >= r[0] && t <= r[1] {
			return true
		}
	}
	return false
}

// wireTypeName is ipcmsg_type_name().
func wireTypeName(t uint16) string {
	if s, ok := wireByType[t]; ok {
		return s.name
	}
	if wireIsReserved(t) {
		return "RESERVED"
	}
	return "UNKNOWN"
}

// msg is one message: its type, id and the values of its fields in the
// table's order (uint64 for integers, string for str, []byte for blob).
type msg struct {
	typ  uint16
	id   uint64
	spec *msgSpec
	vals []interface{}
}

func newMsg(t uint16, id uint64) *msg {
	s := wireByType[t]
	if s == nil {
		panic(fmt.Sprintf("dhp: no message type %#x", t))
	}
	m := &msg{typ: t, id: id, spec: s, vals: make([]interface{}, len(s.fields))}
	for i, f := range s.fields {
		switch f.kind {
		case fStr:
			m.vals[i] = ""
		case fBlob:
			m.vals[i] = []byte(nil)
		default:
			m.vals[i] = uint64(0)
		}
	}
	return m
}

func (m *msg) index(name string) int {
	for i, f := range m.spec.fields {
		if f.name == name {
			return i
		}
	}
	panic("dhp: message " + m.spec.name + " has no field " + name)
}

// set assigns fields by name: set("reg", 3, "name", "x").
func (m *msg) set(kv ...interface{}) *msg {
	for i := 0; i+1 < len(kv); i += 2 {
		j := m.index(kv[i].(string))
		switch v := kv[i+1].(type) {
		case int:
			m.vals[j] = uint64(int64(v))
		case int32:
			m.vals[j] = uint64(uint32(v))
		case uint32:
			m.vals[j] = uint64(v)
		case uint64:
			m.vals[j] = v
		case string:
			m.vals[j] = v
		case []byte:
			m.vals[j] = v
		default:
			panic(fmt.Sprintf("dhp: field %s: value of type %T", kv[i], v))
		}
	}
	return m
}

func (m *msg) u(name string) uint64    { return m.vals[m.index(name)].(uint64) }
func (m *msg) u32(name string) uint32  { return uint32(m.u(name)) }
func (m *msg) i32(name string) int32   { return int32(uint32(m.u(name))) }
func (m *msg) s(name string) string    { return m.vals[m.index(name)].(string) }
func (m *msg) blob(name string) []byte { return m.vals[m.index(name)].([]byte) }

var errBadMsg = syscall.EBADMSG

// encode appends the message to buf[:0]; EMSGSIZE past wireMsgMax, EINVAL
// for a string or blob over its maximum.
func (m *msg) encode(buf []byte) ([]byte, error) {
	b := buf[:0]
	b = binary.LittleEndian.AppendUint16(b, m.typ)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, m.id)
	for i, f := range m.spec.fields {
		switch f.kind {
		case fU8:
			b = append(b, byte(m.vals[i].(uint64)))
		case fU16:
			b = binary.LittleEndian.AppendUint16(b, uint16(m.vals[i].(uint64)))
		case fU32, fI32:
			b = binary.LittleEndian.AppendUint32(b, uint32(m.vals[i].(uint64)))
		case fU64:
			b = binary.LittleEndian.AppendUint64(b, m.vals[i].(uint64))
		case fStr:
			s := m.vals[i].(string)
			if len(s) >= f.max || containsNUL(s) {
				return nil, fmt.Errorf("dhp: %s.%s: %d bytes, at most %d without NUL: %w",
					m.spec.name, f.name, len(s), f.max-1, syscall.EINVAL)
			}
			b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
			b = append(b, s...)
		case fBlob:
			v := m.vals[i].([]byte)
			if f.max > 0 && len(v) > f.max {
				return nil, fmt.Errorf("dhp: %s.%s: %d bytes, at most %d: %w",
					m.spec.name, f.name, len(v), f.max, syscall.EINVAL)
			}
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		}
		if len(b) > wireMsgMax {
			return nil, syscall.EMSGSIZE
		}
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	return b, nil
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// decodeMsg decodes one whole datagram, with ipcmsg_decode's checks:
// EBADMSG (short, length not the datagram's, flags, a field cut short, a
// string too long or with a NUL, bytes left over), EMSGSIZE, EPROTO (an
// unknown type), EOPNOTSUPP (a reserved type).  Strings are copied.
func decodeMsg(b []byte) (*msg, error) {
	if len(b) > wireMsgMax {
		return nil, syscall.EMSGSIZE
	}
	if len(b) < wireHeaderSize {
		return nil, errBadMsg
	}
	t := binary.LittleEndian.Uint16(b)
	if binary.LittleEndian.Uint16(b[2:]) != 0 || int(binary.LittleEndian.Uint32(b[4:])) != len(b) {
		return nil, errBadMsg
	}
	id := binary.LittleEndian.Uint64(b[8:])
	if wireIsReserved(t) {
		return nil, syscall.EOPNOTSUPP
	}
	s := wireByType[t]
	if s == nil {
		return nil, syscall.EPROTO
	}
	m := &msg{typ: t, id: id, spec: s, vals: make([]interface{}, len(s.fields))}
	p := b[wireHeaderSize:]
	take := func(n int) ([]byte, bool) {
		if n > len(p) {
			return nil, false
		}
		v := p[:n]
		p = p[n:]
		return v, true
	}
	for i, f := range s.fields {
		switch f.kind {
		case fU8:
			v, ok := take(1)
			if !ok {
				return nil, errBadMsg
			}
			m.vals[i] = uint64(v[0])
		case fU16:
			v, ok := take(2)
			if !ok {
				return nil, errBadMsg
			}
			m.vals[i] = uint64(binary.LittleEndian.Uint16(v))
		case fU32, fI32:
			v, ok := take(4)
			if !ok {
				return nil, errBadMsg
			}
			m.vals[i] = uint64(binary.LittleEndian.Uint32(v))
		case fU64:
			v, ok := take(8)
			if !ok {
				return nil, errBadMsg
			}
			m.vals[i] = binary.LittleEndian.Uint64(v)
		case fStr:
			v, ok := take(2)
			if !ok {
				return nil, errBadMsg
			}
			n := int(binary.LittleEndian.Uint16(v))
			if n >= f.max {
				return nil, errBadMsg
			}
			v, ok = take(n)
			if !ok || containsNUL(string(v)) {
				return nil, errBadMsg
			}
			m.vals[i] = string(v)
		case fBlob:
			v, ok := take(4)
			if !ok {
				return nil, errBadMsg
			}
			n := int(binary.LittleEndian.Uint32(v))
			if f.max > 0 && n > f.max {
				return nil, errBadMsg
			}
			v, ok = take(n)
			if !ok {
				return nil, errBadMsg
			}
			m.vals[i] = append([]byte(nil), v...)
		}
	}
	if len(p) != 0 {
		return nil, errBadMsg
	}
	// A record names its method and event (ipcmsg_decode refuses it else).
	if (t == tRecord || t == tRecordExt || t == tRecordRT) && (m.s("method") == "" || m.s("event") == "") {
		return nil, errBadMsg
	}
	// A memory removal names its device (ipcmsg_decode refuses it else).
	if t == tMemoryRemove && m.s("name") == "" {
		return nil, errBadMsg
	}
	return m, nil
}

// validName is what dhpd accepts as a name: below the maximum, no NUL.
func validName(s string, max int) error {
	if len(s) >= max || containsNUL(s) || !utf8.ValidString(s) {
		return fmt.Errorf("dhp: name %q: at most %d bytes of UTF-8 without NUL: %w", s, max-1, syscall.EINVAL)
	}
	return nil
}
