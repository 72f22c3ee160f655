// SPDX-License-Identifier: MIT

// dhp-bench-arrivals: processor arrivals per second through dhpd, the Go
// package's client beside the C library's, in the same run (bench/ style:
// prints, never asserts).
//
//	dhp-bench-arrivals -dhpd build-bench/src/dhpd [-n 4000] [-reps 5] [-c build-bench/bench/bench-arrivals]
//
// Each run starts a fresh dhpd --platform sim (1 of n+1 processors) on a
// socket in a temporary directory; one client registers for processor
// arrivals, asks dhpd to run the scenario "cpu add N" and counts the
// arrivals until all N are in (or reported dropped by dhpd: LOST).  The
// figure is N over the time from the request to the last arrival handed
// to the application, and the client's own CPU time per arrival
// (getrusage): the cost of reading, decoding and delivering one.  dhpd's
// simulated adds outrun any client: past its max_queue (256) queued
// notifications dhpd drops arrivals for that client and says how many
// (LOST); the lost count is printed beside the rate, a faster reader loses
// fewer.  The Go
// and C runs alternate; each figure is the median of the runs.
//
// The C side is an external program given with -c, called as
// "PROGRAM unix:SOCKET N"; it must print one line
// "arrivals=A lost=L seconds=S cpu_seconds=C" (see go/README.md).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	dhp "github.com/dhp-project/dhp/go"
)

type result struct {
	arrivals, lost uint64
	seconds, cpu   float64
}

func main() {
	dhpd := flag.String("dhpd", "", "the dhpd binary (required)")
	n := flag.Int("n", 4000, "processor arrivals per run (at most 4095)")
	reps := flag.Int("reps", 5, "runs of each client")
	cprog := flag.String("c", "", "the C client program (optional)")
	flag.Parse()
	if *dhpd == "" || *n < 1 || *n > 4095 {
		flag.Usage()
		os.Exit(2)
	}
	var goRes, cRes []result
	for i := 0; i < *reps; i++ {
		if *cprog != "" {
			cRes = append(cRes, withDaemon(*dhpd, *n, func(target string) result { return runC(*cprog, target, *n) }))
		}
		goRes = append(goRes, withDaemon(*dhpd, *n, func(target string) result { return runGo(target, *n) }))
	}
	fmt.Printf("arrivals through dhpd: %d processor arrivals per run, median of %d runs\n", *n, *reps)
	if *cprog != "" {
		report("C client (libdhp)", cRes)
	} else {
		fmt.Println("  C client: not run (-c PROGRAM)")
	}
	report("Go client (package dhp)", goRes)
}

func report(what string, rs []result) {
	rate := make([]float64, len(rs))
	cpu := make([]float64, len(rs))
	var lost, total uint64
	for i, r := range rs {
		total += r.arrivals + r.lost
		rate[i] = float64(r.arrivals) / r.seconds
		cpu[i] = r.cpu / float64(r.arrivals) * 1e6
		lost += r.lost
	}
	sort.Float64s(rate)
	sort.Float64s(cpu)
	fmt.Printf("  %-24s %8.0f arrivals/s delivered (min %.0f, max %.0f)  client CPU %5.2f us/arrival  lost %d of %d\n",
		what, rate[len(rate)/2], rate[0], rate[len(rate)-1], cpu[len(cpu)/2], lost, total)
}

// withDaemon runs fn against a fresh dhpd --platform sim.
func withDaemon(bin string, n int, fn func(target string) result) result {
	dir, err := os.MkdirTemp("", "dhp-bench-")
	check(err)
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "dhpd.conf")
	check(os.WriteFile(conf, []byte("[daemon]\nlog_level = warning\n"), 0o644))
	sock := filepath.Join(dir, "dhpd.sock")
	cmd := exec.Command(bin, "--platform", "sim", "--sim", fmt.Sprintf("cpus=1,maxcpus=%d", n+1),
		"--foreground", "--socket", sock, "-c", conf)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "READY\n" {
		fail("dhpd said %q instead of READY", line)
	}
	return fn("unix:" + sock)
}

func cpuTime() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func runGo(target string, n int) result {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := dhp.Dial(ctx, target, dhp.WithName("bench-go"))
	check(err)
	defer c.Close()
	reg, err := c.RegisterArrival(ctx, dhp.ClassProcessor, 0, "bench-go")
	check(err)
	progress := make(chan uint64, 1)
	go func() {
		var got uint64
		for range reg.C() {
			got++
			select {
			case <-progress:
			default:
			}
			progress <- got
		}
	}()
	cpu0, t0 := cpuTime(), time.Now()
	check(c.SimRun(ctx, "bench", fmt.Sprintf("cpu add %d\nsettle\n", n)))
	check(c.Ping(ctx)) // a LOST still queued in dhpd comes before this answer
	var got uint64
	for got+c.Dropped() < uint64(n) {
		select {
		case got = <-progress:
		case <-time.After(time.Millisecond): // only a LOST can end the wait now
		case <-ctx.Done():
			fail("Go client: %d of %d arrivals, %d lost", got, n, c.Dropped())
		}
	}
	return result{arrivals: got, lost: c.Dropped(), seconds: time.Since(t0).Seconds(), cpu: cpuTime() - cpu0}
}

func runC(prog, target string, n int) result {
	out, err := exec.Command(prog, target, fmt.Sprint(n)).Output()
	if err != nil {
		fail("%s: %v", prog, err)
	}
	var r result
	line := strings.TrimSpace(string(out))
	if _, err := fmt.Sscanf(line, "arrivals=%d lost=%d seconds=%g cpu_seconds=%g", &r.arrivals, &r.lost,
		&r.seconds, &r.cpu); err != nil {
		fail("%s said %q: %v", prog, line, err)
	}
	return r
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "dhp-bench-arrivals: "+format+"\n", a...)
	os.Exit(1)
}
