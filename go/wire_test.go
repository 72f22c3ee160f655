// SPDX-License-Identifier: MIT

package dhp

// Protocol conformance: the Go message table against the C codec, so that
// a change of the protocol that this package does not follow fails here.
//
import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Where the C side is: $DHP_SRC (default ../src), and in it the codec's
// header and source, the first pair found of cCodecs (the message table of
// src/proto/ once it lands, the codec of src/util/ before).
// testdata/wirecheck.c names the codec's functions in one block at its top.
const cSrcDefault = "../src"

var cCodecs = [][2]string{
	{"proto/ipcmsg.h", "proto/ipcmsg.c"},
	{"util/ipcmsg.h", "util/ipcmsg.c"},
}

// srcDir returns the C source directory and the codec's header and
// source in it.
func srcDir(t *testing.T) (dir, header, codec string) {
	d := os.Getenv("DHP_SRC")
	if d == "" {
		d = cSrcDefault
	}
	d, _ = filepath.Abs(d)
	for _, c := range cCodecs {
		if _, err := os.Stat(filepath.Join(d, c[0])); err == nil {
			return d, c[0], c[1]
		}
	}
	if os.Getenv("DHP_SRC") == "" {
		t.Skip("no C sources: set DHP_SRC=path/to/src")
	}
	t.Fatalf("DHP_SRC=%s: no codec (%v)", d, cCodecs)
	return "", "", ""
}

// sample is a message of type s with every field at a distinct value:
// integers from a pattern, strings at their longest.
func sample(s *msgSpec, seed int) *msg {
	m := newMsg(s.typ, uint64(0x0102030405060708)+uint64(seed))
	for i, f := range s.fields {
		v := uint64(seed*131 + i*17 + 1)
		switch f.kind {
		case fU8:
			m.vals[i] = v & 0xff
		case fU16:
			m.vals[i] = v * 257 & 0xffff
		case fU32:
			m.vals[i] = v * 0x01010101 & 0xffffffff
		case fI32:
			m.vals[i] = uint64(uint32(-int32(v)))
		case fU64:
			m.vals[i] = v * 0x0101010101010101
		case fStr:
			m.vals[i] = strings.Repeat(string(rune('a'+(i+seed)%26)), f.max-1)
		case fBlob:
			n := f.max
			if n == 0 {
				n = 3000
			}
			b := make([]byte, n)
			for j := range b {
				b[j] = byte(j + i + seed)
			}
			m.vals[i] = b
		}
	}
	return m
}

func TestWireGoRoundTrip(t *testing.T) {
	for si := range wireTable {
		s := &wireTable[si]
		for seed := 0; seed < 3; seed++ {
			m := sample(s, seed)
			if seed == 2 { // shortest strings and blobs (a record's method and event, a removal's name excepted)
				for i, f := range s.fields {
					if f.kind == fStr && !((s.typ == tRecord || s.typ == tRecordExt || s.typ == tRecordRT) && (f.name == "method" || f.name == "event")) &&
						!(s.typ == tMemoryRemove && f.name == "name") {
						m.vals[i] = ""
					} else if f.kind == fBlob {
						m.vals[i] = []byte{}
					}
				}
			}
			b, err := m.encode(nil)
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			d, err := decodeMsg(b)
			if err != nil {
				t.Fatalf("%s: decode: %v", s.name, err)
			}
			b2, _ := d.encode(nil)
			if !bytes.Equal(b, b2) {
				t.Fatalf("%s: round trip differs", s.name)
			}
		}
	}
}

type cCodecProc struct {
	t   *testing.T
	in  *bufio.Writer
	out *bufio.Scanner
	cmd *exec.Cmd
}

// buildWirecheck compiles testdata/wirecheck.c with the C codec.
func buildWirecheck(t *testing.T) *cCodecProc {
	src, cHeader, cCodec := srcDir(t)
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Fatalf("no C compiler (%s): %v", cc, err)
	}
	bin := filepath.Join(t.TempDir(), "wirecheck")
	args := []string{"-std=gnu11", "-O1", "-Wall", "-I", src, "-I", filepath.Join(src, ".."),
		fmt.Sprintf("-DIPC_HEADER=\"%s\"", cHeader), "-o", bin, "testdata/wirecheck.c", filepath.Join(src, cCodec)}
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", cc, strings.Join(args, " "), err, out)
	}
	p := &cCodecProc{t: t, cmd: exec.Command(bin)}
	w, _ := p.cmd.StdinPipe()
	r, _ := p.cmd.StdoutPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); p.cmd.Wait() })
	p.in = bufio.NewWriter(w)
	p.out = bufio.NewScanner(r)
	p.out.Buffer(make([]byte, 4*wireMsgMax), 4*wireMsgMax)
	return p
}

func (p *cCodecProc) line(s string) string {
	p.in.WriteString(s + "\n")
	p.in.Flush()
	if !p.out.Scan() {
		p.t.Fatalf("wirecheck ended: %v", p.out.Err())
	}
	return p.out.Text()
}

// roundTrip gives b to the C codec: the re-encoded bytes, or its errno.
func (p *cCodecProc) roundTrip(b []byte) ([]byte, syscall.Errno) {
	ans := p.line(hex.EncodeToString(b))
	if strings.HasPrefix(ans, "ERR ") {
		n, _ := strconv.Atoi(ans[4:])
		return nil, syscall.Errno(n)
	}
	out, err := hex.DecodeString(strings.TrimPrefix(ans, "OK "))
	if err != nil {
		p.t.Fatalf("wirecheck said %q", ans)
	}
	return out, 0
}

func goErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return errnoOf(err, syscall.EIO)
}

// Every message of the table, as Go encodes it, is read and written back
// identically by the C codec; every malformation is refused by both with
// the same errno.
func TestWireMatchesC(t *testing.T) {
	p := buildWirecheck(t)
	for si := range wireTable {
		s := &wireTable[si]
		for seed := 0; seed < 2; seed++ {
			m := sample(s, seed)
			b, err := m.encode(nil)
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			out, errno := p.roundTrip(b)
			if errno != 0 {
				t.Fatalf("%s: the C codec refuses Go's encoding: %v (a field added, removed, resized or "+
					"a maximum lowered on the C side?)", s.name, errno)
			}
			if !bytes.Equal(out, b) {
				t.Fatalf("%s: the C codec writes back other bytes:\n go %x\n  c %x", s.name, b, out)
			}
		}
		// Malformations: both codecs refuse them alike.
		b, _ := sample(s, 0).encode(nil)
		var cases [][]byte
		if len(b) > wireHeaderSize {
			short := append([]byte(nil), b[:len(b)-1]...)
			binary.LittleEndian.PutUint32(short[4:], uint32(len(short)))
			cases = append(cases, short)
		}
		long := append(append([]byte(nil), b...), 0)
		binary.LittleEndian.PutUint32(long[4:], uint32(len(long)))
		flags := append([]byte(nil), b...)
		flags[2] = 1
		cases = append(cases, long, flags, b[:len(b)-1] /* length field not the datagram's */)
		// Each string one byte over its maximum, and with a NUL inside.
		off := wireHeaderSize
		for i, f := range s.fields {
			switch f.kind {
			case fU8:
				off++
			case fU16:
				off += 2
			case fU32, fI32:
				off += 4
			case fU64:
				off += 8
			case fStr:
				n := int(binary.LittleEndian.Uint16(b[off:]))
				over := append(append(append([]byte(nil), b[:off+2+n]...), 'x'), b[off+2+n:]...)
				binary.LittleEndian.PutUint16(over[off:], uint16(n+1))
				binary.LittleEndian.PutUint32(over[4:], uint32(len(over)))
				cases = append(cases, over)
				if n > 0 {
					nul := append([]byte(nil), b...)
					nul[off+2] = 0
					cases = append(cases, nul)
				}
				off += 2 + n
			case fBlob:
				n := int(binary.LittleEndian.Uint32(b[off:]))
				if f.max > 0 {
					over := append(append(append([]byte(nil), b[:off+4+n]...), 'x'), b[off+4+n:]...)
					binary.LittleEndian.PutUint32(over[off:], uint32(n+1))
					binary.LittleEndian.PutUint32(over[4:], uint32(len(over)))
					cases = append(cases, over)
				}
				off += 4 + n
			}
			_ = i
		}
		for ci, c := range cases {
			_, cerr := p.roundTrip(c)
			_, gerr := decodeMsg(c)
			if cerr == 0 || goErrno(gerr) != cerr {
				t.Errorf("%s: malformation %d: C %v, Go %v", s.name, ci, cerr, gerr)
			}
		}
	}
	// Types outside the table: unknown and reserved alike.
	for typ := 0; typ <= 0xff; typ++ {
		if _, ok := wireByType[uint16(typ)]; ok {
			continue
		}
		b := make([]byte, wireHeaderSize)
		binary.LittleEndian.PutUint16(b, uint16(typ))
		binary.LittleEndian.PutUint32(b[4:], wireHeaderSize)
		_, cerr := p.roundTrip(b)
		_, gerr := decodeMsg(b)
		if goErrno(gerr) != cerr {
			t.Errorf("type %#x: C %v, Go %v", typ, cerr, gerr)
		}
	}
}

// The names, directions and reserved ranges of the C codec are the
// table's.
func TestWireNamesMatchC(t *testing.T) {
	p := buildWirecheck(t)
	p.in.WriteString("names\n")
	p.in.Flush()
	for typ := 0; typ <= 256; typ++ {
		if !p.out.Scan() {
			t.Fatal("wirecheck ended")
		}
		var n int
		var name string
		var from, reserved int
		if _, err := fmt.Sscanf(p.out.Text(), "%d %s %d %d", &n, &name, &from, &reserved); err != nil || n != typ {
			t.Fatalf("wirecheck said %q", p.out.Text())
		}
		if got := wireTypeName(uint16(typ)); got != name {
			t.Errorf("type %#x: C names it %s, Go %s", typ, name, got)
		}
		if s := wireByType[uint16(typ)]; s != nil && s.fromClient != (from == 1) {
			t.Errorf("%s: C says from client %v", s.name, from == 1)
		} else if s == nil && from == 1 {
			t.Errorf("type %#x: a client's message in C, not in the Go table", typ)
		}
		if wireIsReserved(uint16(typ)) != (reserved == 1) {
			t.Errorf("type %#x: reserved in C %v", typ, reserved == 1)
		}
	}
}

var (
	reDefine = regexp.MustCompile(`(?m)^#define\s+IPC_([A-Z0-9_]+)\s+(\d+)\b`)
	reRow    = regexp.MustCompile(`(?m)^\s*X\(([A-Z0-9_]+),\s*(0x[0-9a-fA-F]+),\s*([A-Z]+),`)
	reEnum   = regexp.MustCompile(`(?m)^\s*IPC_([A-Z0-9_]+)\s*=\s*(0x[0-9a-fA-F]+|\d+|1u\s*<<\s*\d+)\s*,`)
)

func cValue(s string) uint64 {
	s = strings.ReplaceAll(s, " ", "")
	if strings.HasPrefix(s, "1u<<") {
		n, _ := strconv.Atoi(s[4:])
		return 1 << n
	}
	v, _ := strconv.ParseUint(s, 0, 64)
	return v
}

// The header's constants, read mechanically, against the Go ones: every
// message type, every limit, every flag bit.
func TestWireConstantsMatchCHeader(t *testing.T) {
	src, cHeader, _ := srcDir(t)
	text, err := os.ReadFile(filepath.Join(src, cHeader))
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]uint64{}
	for _, m := range reDefine.FindAllStringSubmatch(string(text), -1) {
		c[m[1]] = cValue(m[2])
	}
	for _, m := range reEnum.FindAllStringSubmatch(string(text), -1) {
		c[m[1]] = cValue(m[2])
	}
	goConst := map[string]uint64{
		"VERSION_MAJOR": wireVersionMajor, "VERSION_MINOR": wireVersionMinor,
		"HEADER_SIZE": wireHeaderSize, "MSG_MAX": wireMsgMax, "NAME_MAX": wireNameMax,
		"TEXT_MAX": wireTextMax, "DETAIL_MAX": wireDetailMax, "RECORD_DETAIL_MAX": wireRecordDetailMax,
		"STATUS_PROC_MAX": wireStatusProcMax, "MEMCOND_NAME_MAX": wireMemcondNameMax,
		"AFFINITY_MAX":       wireAffinityMax,
		"WELCOME_PRIVILEGED": welcomePrivileged, "WELCOME_SIMULATED": welcomeSimulated,
		"ARRIVAL_EXISTING": arrivalExisting, "MEMCOND_SET": memcondSet, "MEMCOND_INITIAL": memcondInitial,
		"CLIENT_PRIVILEGED": clientPrivileged, "CLIENT_MONITOR": clientMonitor, "CLIENT_SELF": clientSelf,
		"RESERVED_MEMCOND_FIRST": uint64(wireReserved[0][0]), "RESERVED_MEMCOND_LAST": uint64(wireReserved[0][1]),
		"RESERVED_REBALANCE_FIRST": uint64(wireReserved[1][0]), "RESERVED_REBALANCE_LAST": uint64(wireReserved[1][1]),
	}
	for _, s := range wireTable {
		goConst[s.name] = uint64(s.typ)
	}
	for _, row := range reRow.FindAllStringSubmatch(string(text), -1) {
		c[row[1]] = cValue(row[2])
	}
	for name, v := range goConst {
		cv, ok := c[name]
		if !ok {
			t.Errorf("IPC_%s: in the Go table, not in %s", name, cHeader)
		} else if cv != v {
			t.Errorf("IPC_%s: C %#x, Go %#x", name, cv, v)
		}
	}
	// Every message type of the C header is in the Go table: the rows of
	// its message table (IPC_MESSAGES), or the members of enum ipc_type.
	rows := reRow.FindAllStringSubmatch(string(text), -1)
	if len(rows) == 0 {
		enum := string(text)
		i := strings.Index(enum, "enum ipc_type {")
		if i < 0 {
			t.Fatalf("%s: neither IPC_MESSAGES rows nor enum ipc_type", cHeader)
		}
		enum = enum[i:]
		enum = enum[:strings.Index(enum, "};")]
		rows = reEnum.FindAllStringSubmatch(enum, -1)
	}
	for _, m := range rows {
		if strings.HasPrefix(m[1], "RESERVED_") {
			continue
		}
		if s := wireByType[uint16(cValue(m[2]))]; s == nil || s.name != m[1] {
			t.Errorf("IPC_%s = %s: a C message type the Go table lacks", m[1], m[2])
		}
		delete(goConst, m[1])
	}
	// The string maxima of the C structs are the table's (the round trip
	// checks the wire; this catches a maximum raised in C only).
	for name, v := range map[string]int{"NAME_MAX": wireNameMax, "DETAIL_MAX": wireDetailMax} {
		if c[name] != uint64(v) {
			t.Errorf("IPC_%s differs", name)
		}
	}
}

// With the C message table (src/proto/): the Go table row by row, field by
// field: the same types in the same order, the same direction, each field
// of the same kind and size.
func TestWireTableMatchesC(t *testing.T) {
	p := buildWirecheck(t)
	p.in.WriteString("table\n")
	p.in.Flush()
	var lines []string
	for p.out.Scan() && p.out.Text() != "END" {
		lines = append(lines, p.out.Text())
	}
	if len(lines) == 1 && lines[0] == "NOTABLE" {
		t.Skip("this C codec has no message table (IPC_MESSAGES): TestWireMatchesC covers it")
	}
	// enum ipc_dir and enum ipc_field_kind of src/proto/ipcmsg.h.
	const (
		dirRequest, dirAnswer  = 1, 2
		kInt, kStr, kStrSet    = 1, 2, 3
		kAbsent, kBytes, kBlob = 4, 5, 6
	)
	seen := map[uint16]bool{}
	for _, line := range lines {
		f := strings.Fields(line)
		typ, _ := strconv.ParseUint(f[0], 10, 16)
		dir, _ := strconv.Atoi(f[2])
		s := wireByType[uint16(typ)]
		if s == nil || s.name != f[1] {
			t.Errorf("C row %s (%#x): not in the Go table", f[1], typ)
			continue
		}
		seen[s.typ] = true
		if s.fromClient != (dir == dirRequest || dir == dirAnswer) {
			t.Errorf("%s: direction %d in C", s.name, dir)
		}
		var cf []string
		for _, kv := range f[3:] {
			var kind, size int
			fmt.Sscanf(kv, "%d:%d", &kind, &size)
			switch kind {
			case kAbsent:
				continue
			case kInt:
				cf = append(cf, fmt.Sprintf("int%d", size))
			case kStr, kStrSet:
				cf = append(cf, fmt.Sprintf("str%d", size))
			case kBytes:
				cf = append(cf, fmt.Sprintf("blob%d", size))
			case kBlob:
				cf = append(cf, "blob0")
			default:
				t.Errorf("%s: field kind %d unknown to this test", s.name, kind)
			}
		}
		var gf []string
		for _, fl := range s.fields {
			switch fl.kind {
			case fU8:
				gf = append(gf, "int1")
			case fU16:
				gf = append(gf, "int2")
			case fU32, fI32:
				gf = append(gf, "int4")
			case fU64:
				gf = append(gf, "int8")
			case fStr:
				gf = append(gf, fmt.Sprintf("str%d", fl.max))
			case fBlob:
				gf = append(gf, fmt.Sprintf("blob%d", fl.max))
			}
		}
		if strings.Join(cf, " ") != strings.Join(gf, " ") {
			t.Errorf("%s: fields differ\n C  %v\n Go %v", s.name, cf, gf)
		}
	}
	for _, s := range wireTable {
		if !seen[s.typ] {
			t.Errorf("%s: in the Go table, not in the C one", s.name)
		}
	}
}
