// SPDX-License-Identifier: MIT

package dhp

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeDaemon answers the first message of each connection with answer(hello).
func fakeDaemon(t *testing.T, answer func(hello *msg) *msg) string {
	sock := filepath.Join(t.TempDir(), "fake.sock")
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, wireMsgMax)
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				hello, err := decodeMsg(buf[:n])
				if err != nil || hello.typ != tHello {
					t.Errorf("first message: %v", err)
					return
				}
				if a := answer(hello); a != nil {
					b, _ := a.encode(nil)
					c.Write(b)
					c.Read(buf) // until the client goes
				} else {
					c.Read(buf)
				}
			}()
		}
	}()
	return "unix:" + sock
}

func TestHandshakeFake(t *testing.T) {
	// HELLO says this package's version and name.
	seen := make(chan *msg, 1)
	target := fakeDaemon(t, func(h *msg) *msg {
		seen <- h
		return newMsg(tWelcome, h.id).set("major", 2, "minor", 0)
	})
	_, err := Dial(testCtx(t), target, WithName("fake-test"))
	if !errors.Is(err, syscall.EPROTONOSUPPORT) || !strings.Contains(err.Error(), "speaks 2.0") {
		t.Fatalf("major 2: %v", err)
	}
	h := <-seen
	if h.u("major") != wireVersionMajor || h.u("minor") != wireVersionMinor || h.s("name") != "fake-test" {
		t.Fatalf("HELLO %v", h.vals)
	}

	target = fakeDaemon(t, func(h *msg) *msg {
		return newMsg(tError, h.id).set("status", -int32(syscall.EPROTONOSUPPORT), "text", "protocol version mismatch")
	})
	if _, err := Dial(testCtx(t), target); !errors.Is(err, syscall.EPROTONOSUPPORT) {
		t.Fatalf("ERROR: %v", err)
	}

	// A daemon that never answers: the context ends the handshake.
	target = fakeDaemon(t, func(h *msg) *msg { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Dial(ctx, target); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent daemon: %v", err)
	}
}

// A protocol violation from the daemon's side ends the connection, and
// a request waiting is told.
func TestViolationEndsConnection(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "v.sock")
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, wireMsgMax)
		n, _ := c.Read(buf)
		h, _ := decodeMsg(buf[:n])
		b, _ := newMsg(tWelcome, h.id).set("major", 1, "minor", 2).encode(nil)
		c.Write(b)
		c.Read(buf)              // the PING
		c.Write([]byte{1, 2, 3}) // not a message
		c.Read(buf)
	}()
	conn, err := Dial(testCtx(t), "unix:"+sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Ping(testCtx(t)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Ping: %v", err)
	}
	select {
	case <-conn.Lost():
	case <-time.After(waitLimit):
		t.Fatal("loss not reported")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := conn.WaitConnected(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitConnected: %v", err)
	}
}
