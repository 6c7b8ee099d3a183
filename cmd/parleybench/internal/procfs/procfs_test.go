package procfs

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	// A comm with spaces and parentheses, as a process can name itself.
	line := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 123456 1234567 890 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := ParseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := (CPUTicks{User: 250, System: 75}); got != want {
		t.Fatalf("ParseStat = %+v, want %+v", got, want)
	}
	if got.Total() != 325 {
		t.Fatalf("Total = %d, want 325", got.Total())
	}
}

func TestParseStatRefuses(t *testing.T) {
	t.Parallel()
	for name, line := range map[string]string{
		"no comm":     "4242 S 1 2 3",
		"too short":   "4242 (x) S 1 2 3",
		"not numbers": "1 (x) S 1 1 1 0 -1 0 0 0 0 0 ab cd 0 0",
	} {
		if _, err := ParseStat(line); err == nil {
			t.Errorf("%s: ParseStat(%q) did not fail", name, line)
		}
	}
}

func TestParseStatusRSS(t *testing.T) {
	t.Parallel()
	status := "Name:\tparleybench\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nThreads:\t7\n"
	got, err := ParseStatusRSS(status)
	if err != nil {
		t.Fatal(err)
	}
	if got != 12345*1024 {
		t.Fatalf("ParseStatusRSS = %d, want %d", got, 12345*1024)
	}
	if _, err := ParseStatusRSS("Name:\tx\n"); err == nil {
		t.Fatal("ParseStatusRSS without VmRSS did not fail")
	}
}

func TestReadSelf(t *testing.T) {
	t.Parallel()
	if _, err := ReadCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	rss, err := ReadRSS(os.Getpid())
	if err != nil || rss == 0 {
		t.Fatalf("ReadRSS = %d, %v", rss, err)
	}
	s, err := Start(os.Getpid(), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Stop()
	if err != nil || u.PeakRSS == 0 || u.EndRSS == 0 {
		t.Fatalf("Stop = %+v, %v", u, err)
	}
}

// TestReadOpenFilesSelf counts this process's files, and one more once it
// opens another.
func TestReadOpenFilesSelf(t *testing.T) {
	before, err := ReadOpenFiles(os.Getpid())
	if err != nil || before < 3 {
		t.Fatalf("ReadOpenFiles = %d, %v; want at least stdin, stdout and stderr", before, err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if after, err := ReadOpenFiles(os.Getpid()); err != nil || after != before+1 {
		t.Fatalf("ReadOpenFiles = %d, %v after opening a file; want %d", after, err, before+1)
	}
}

func TestUsageCPUPercent(t *testing.T) {
	t.Parallel()
	if got := (Usage{CPUSeconds: 3, Wall: 2 * time.Second}).CPUPercent(); got != 150 {
		t.Fatalf("CPUPercent = %v, want 150", got)
	}
	if got := (Usage{CPUSeconds: 3}).CPUPercent(); got != 0 {
		t.Fatalf("CPUPercent with no wall time = %v, want 0", got)
	}
}

func TestParseMachine(t *testing.T) {
	t.Parallel()
	cpu := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nprocessor\t: 1\nmodel name\t: other\n"
	if got := ParseCPUModel(cpu); got != "Intel(R) Xeon(R) CPU @ 2.20GHz" {
		t.Fatalf("ParseCPUModel = %q", got)
	}
	if got := ParseCPUModel(""); got != "unknown" {
		t.Fatalf("ParseCPUModel(\"\") = %q", got)
	}
	if got := ParseMemTotal("MemTotal:       24576000 kB\nMemFree: 1 kB\n"); got != 24576000*1024 {
		t.Fatalf("ParseMemTotal = %d", got)
	}
}

func TestParseSchedRuntime(t *testing.T) {
	t.Parallel()
	sched := "parleybench (4242, #threads: 7)\n-------------------\nse.exec_start                                :       5180648.396771\nse.sum_exec_runtime                          :          1234.567891\nnr_switches                                  :                   12\n"
	got, err := ParseSchedRuntime(sched)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1234567891 * time.Nanosecond; got < want-time.Microsecond || got > want+time.Microsecond {
		t.Fatalf("ParseSchedRuntime = %v, want %v", got, want)
	}
	for name, s := range map[string]string{
		"missing":  "se.exec_start : 1.0\n",
		"garbled":  "se.sum_exec_runtime : many\n",
		"negative": "se.sum_exec_runtime : -3.5\n",
	} {
		if _, err := ParseSchedRuntime(s); err == nil {
			t.Errorf("%s: ParseSchedRuntime(%q) did not fail", name, s)
		}
	}
}

func TestReadRuntimeSelf(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/sched"); err != nil {
		t.Skip("this kernel has no /proc/PID/sched")
	}
	before, err := ReadRuntime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 20_000_000 {
		x ^= i * i
	}
	after, err := ReadRuntime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("runtime went from %v to %v over a busy loop (%d)", before, after, x)
	}
}
