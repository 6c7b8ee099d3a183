// Package procfs reads a process's CPU time and resident memory from Linux's
// /proc, and describes the machine from /proc/cpuinfo and /proc/meminfo.
package procfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CPUTicks is the CPU time a process has used, in clock ticks.
type CPUTicks struct {
	// User is utime, field 14 of /proc/PID/stat.
	User uint64
	// System is stime, field 15 of /proc/PID/stat.
	System uint64
}

// Total returns user plus system ticks.
func (c CPUTicks) Total() uint64 { return c.User + c.System }

// ParseStat parses the contents of /proc/PID/stat. The second field, the
// command name in parentheses, may itself hold spaces and parentheses, so
// the fields are counted from the last closing parenthesis.
func ParseStat(line string) (CPUTicks, error) {
	end := strings.LastIndexByte(line, ')')
	if end < 0 || !strings.Contains(line[:end], "(") {
		return CPUTicks{}, errors.New("procfs: stat has no (comm)")
	}
	// After the comm: field 3 (state) onwards; utime is field 14, stime 15.
	rest := strings.Fields(line[end+1:])
	if len(rest) < 13 {
		return CPUTicks{}, fmt.Errorf("procfs: stat has %d fields after comm, want at least 13", len(rest))
	}
	user, err := strconv.ParseUint(rest[11], 10, 64)
	if err != nil {
		return CPUTicks{}, fmt.Errorf("procfs: utime: %w", err)
	}
	sys, err := strconv.ParseUint(rest[12], 10, 64)
	if err != nil {
		return CPUTicks{}, fmt.Errorf("procfs: stime: %w", err)
	}
	return CPUTicks{User: user, System: sys}, nil
}

// ParseStatusRSS returns VmRSS, in bytes, from the contents of
// /proc/PID/status.
func ParseStatusRSS(status string) (uint64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("procfs: VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procfs: VmRSS: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("procfs: status has no VmRSS")
}

// ReadCPU returns the CPU ticks process pid has used.
func ReadCPU(pid int) (CPUTicks, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return CPUTicks{}, err
	}
	return ParseStat(string(b))
}

// ReadRSS returns the resident memory of process pid, in bytes.
func ReadRSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return ParseStatusRSS(string(b))
}

// ReadOpenFiles returns the number of files process pid has open, sockets
// included.
func ReadOpenFiles(pid int) (int, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(fds), err
}

// ParseSchedRuntime returns se.sum_exec_runtime from the contents of
// /proc/PID/task/TID/sched: the time the thread has spent on a CPU, which
// the kernel prints in milliseconds to the nanosecond.
func ParseSchedRuntime(sched string) (time.Duration, error) {
	sc := bufio.NewScanner(strings.NewReader(sched))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(k) != "se.sum_exec_runtime" {
			continue
		}
		ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || ms < 0 {
			return 0, fmt.Errorf("procfs: se.sum_exec_runtime %q", strings.TrimSpace(v))
		}
		return time.Duration(ms * float64(time.Millisecond)), nil
	}
	return 0, errors.New("procfs: sched has no se.sum_exec_runtime")
}

// ReadRuntime returns the time the threads of process pid have spent on a
// CPU, summed over /proc/PID/task/*/sched. It is finer than the clock
// ticks of ReadCPU, but leaves out threads that have exited.
func ReadRuntime(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/sched")
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited since the directory was read
		}
		if err != nil {
			return 0, err
		}
		d, err := ParseSchedRuntime(string(b))
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

var (
	tickOnce sync.Once
	tick     = 100
)

// ClockTick returns the number of clock ticks per second that /proc counts
// CPU time in, from `getconf CLK_TCK`, or 100 if that cannot be run.
func ClockTick() int {
	tickOnce.Do(func() {
		out, err := exec.Command("getconf", "CLK_TCK").Output()
		if err != nil {
			return
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			tick = n
		}
	})
	return tick
}

// Seconds converts ticks to seconds of CPU time.
func Seconds(ticks uint64) float64 { return float64(ticks) / float64(ClockTick()) }

// Usage is what a Sampler saw of one process over a period.
type Usage struct {
	// CPUSeconds is the user plus system CPU time used in the period: from
	// ReadRuntime where the kernel provides it and no thread exited, from
	// the clock ticks of ReadCPU otherwise.
	CPUSeconds float64 `json:"cpuSeconds"`
	// Wall is the length of the period.
	Wall time.Duration `json:"wall"`
	// PeakRSS is the largest resident memory sampled, in bytes.
	PeakRSS uint64 `json:"peakRSS"`
	// EndRSS is the resident memory at the end, in bytes.
	EndRSS uint64 `json:"endRSS"`
}

// CPUPercent returns the mean CPU use over the period, where 100 is one
// core busy throughout.
func (u Usage) CPUPercent() float64 {
	if u.Wall <= 0 {
		return 0
	}
	return 100 * u.CPUSeconds / u.Wall.Seconds()
}

// Sampler samples the resident memory of a process at an interval and
// measures the CPU time it uses between Start and Stop.
type Sampler struct {
	pid   int
	start time.Time
	cpu0  CPUTicks
	run0  time.Duration // ReadRuntime at the start; -1 if unreadable
	stop  chan struct{}
	done  chan struct{}

	mu   sync.Mutex
	peak uint64
}

// Start begins sampling process pid every interval.
func Start(pid int, every time.Duration) (*Sampler, error) {
	cpu, err := ReadCPU(pid)
	if err != nil {
		return nil, err
	}
	run0, err := ReadRuntime(pid)
	if err != nil {
		run0 = -1
	}
	s := &Sampler{pid: pid, start: time.Now(), cpu0: cpu, run0: run0, stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s, nil
}

func (s *Sampler) sample() uint64 {
	rss, err := ReadRSS(s.pid)
	if err != nil {
		return 0
	}
	s.mu.Lock()
	s.peak = max(s.peak, rss)
	s.mu.Unlock()
	return rss
}

// Stop ends sampling and returns what was seen.
func (s *Sampler) Stop() (Usage, error) {
	close(s.stop)
	<-s.done
	cpu, err := ReadCPU(s.pid)
	if err != nil {
		return Usage{}, err
	}
	seconds := Seconds(cpu.Total() - s.cpu0.Total())
	if run, err := ReadRuntime(s.pid); err == nil && s.run0 >= 0 && run >= s.run0 {
		seconds = (run - s.run0).Seconds()
	}
	end := s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return Usage{
		CPUSeconds: seconds,
		Wall:       time.Since(s.start),
		PeakRSS:    s.peak,
		EndRSS:     end,
	}, nil
}

// Machine describes the computer a benchmark ran on.
type Machine struct {
	// CPU is the processor's model name.
	CPU string `json:"cpu"`
	// Cores is the number of logical CPUs.
	Cores int `json:"cores"`
	// MemoryBytes is the total memory.
	MemoryBytes uint64 `json:"memoryBytes"`
	// Kernel is the running kernel's release.
	Kernel string `json:"kernel"`
	// Go is the Go version the tool was built with.
	Go string `json:"go"`
}

// ParseCPUModel returns the first "model name" of /proc/cpuinfo's contents.
func ParseCPUModel(cpuinfo string) string {
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// ParseMemTotal returns MemTotal, in bytes, from /proc/meminfo's contents.
func ParseMemTotal(meminfo string) uint64 {
	sc := bufio.NewScanner(strings.NewReader(meminfo))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// DescribeMachine describes this machine, leaving out what it cannot read.
func DescribeMachine() Machine {
	m := Machine{CPU: "unknown", Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = ParseCPUModel(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemoryBytes = ParseMemTotal(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
