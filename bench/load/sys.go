package load

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where a run ran.
type Machine struct {
	CPU        string `json:"cpu,omitempty"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	MemoryGiB  int    `json:"memory_gib,omitempty"`
	OS         string `json:"os"`
	Go         string `json:"go"`
}

func machine() Machine {
	m := Machine{
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
		Go:         runtime.Version(),
	}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseInt(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 10, 64); err == nil {
		m.MemoryGiB = int((kb + 1<<19) >> 20)
	}
	return m
}

// procField returns the value of the first "name: value" line of a /proc
// file, "" where there is none.
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAvg returns the 1-minute load average, -1 where unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// CPU is how many cores were busy on average during a measurement: this
// process (client and, in-process, server) and everything else on the
// machine. Linux only; zero elsewhere.
type CPU struct {
	Process float64 `json:"process_cores"`
	Others  float64 `json:"other_cores"`
	// PerCall is this process's CPU time per successful call, in
	// microseconds: client and (in-process) server together. Unlike
	// throughput, it barely depends on what else the machine runs.
	PerCall float64 `json:"process_us_per_call"`
}

// cpuSample is a reading of the machine's busy time and this process's,
// in clock ticks.
type cpuSample struct {
	at         time.Time
	busy, self uint64
	ok         bool
}

// userHZ is the unit of /proc's times; 100 on every Linux configuration
// Go supports.
const userHZ = 100

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return s
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return s
		}
		// Fields: user nice system idle iowait irq softirq steal guest
		// guest_nice; guest time is already counted in user.
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		s.busy += n
	}
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return s
	}
	i := bytes.LastIndexByte(self, ')')
	if i < 0 {
		return s
	}
	g := strings.Fields(string(self[i+1:]))
	if len(g) < 13 {
		return s
	}
	utime, err1 := strconv.ParseUint(g[11], 10, 64)
	stime, err2 := strconv.ParseUint(g[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s
	}
	s.self, s.ok = utime+stime, true
	return s
}

// cpuSince returns the cores busy between an earlier sample and now.
func cpuSince(a cpuSample) CPU {
	b := sampleCPU()
	secs := b.at.Sub(a.at).Seconds()
	if !a.ok || !b.ok || secs <= 0 || b.busy < a.busy || b.self < a.self {
		return CPU{}
	}
	self := float64(b.self-a.self) / userHZ / secs
	all := float64(b.busy-a.busy) / userHZ / secs
	return CPU{Process: round2(self), Others: round2(max(all-self, 0))}
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
