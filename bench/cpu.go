package bench

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuSample is the CPU this process and the whole machine had used at one moment.
type cpuSample struct {
	user, system time.Duration // this process (getrusage)
	busy, total  uint64        // the machine, in clock ticks (/proc/stat; 0 where there is none)
}

func sampleCPU() cpuSample {
	s := cpuSample{}
	s.user, s.system = processCPU()
	s.busy, s.total = machineCPU()
	return s
}

// CPUUse is where the CPU went during a phase of the benchmark: the tickets, or asynq's no-op
// tasks.
type CPUUse struct {
	// User and Kernel are this process's CPU per ticket (or per no-op task), in user space and in
	// the kernel: its system calls, which for the tickets are mostly sockets to Postgres, Redis,
	// the SMTP sink and the HTTP clients.
	User, Kernel time.Duration
	// MachineBusy is the share of all the machine's cores that were busy (all processes:
	// Postgres and Redis too), 0 where the machine does not say (no /proc/stat).
	MachineBusy float64
	Cores       int
}

func cpuUse(before, after cpuSample, n int) CPUUse {
	u := CPUUse{Cores: runtime.NumCPU()}
	if n > 0 {
		u.User = (after.user - before.user) / time.Duration(n)
		u.Kernel = (after.system - before.system) / time.Duration(n)
	}
	if after.total > before.total {
		u.MachineBusy = float64(after.busy-before.busy) / float64(after.total-before.total)
	}
	return u
}

// processCPU is the CPU this process has used, in user space and in the kernel.
func processCPU() (user, system time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// ProcessCPU is the CPU this process has used so far, user space and kernel together.
func ProcessCPU() time.Duration {
	user, system := processCPU()
	return user + system
}

// machineCPU reads the first line of /proc/stat: busy is every state but idle and iowait.
func machineCPU() (busy, total uint64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0
	}
	for i, f := range fields[1:] {
		if i >= 8 { // guest and guest_nice are already counted in user and nice
			break
		}
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// ResetPeakRSS starts the kernel's peak resident size afresh (Linux; elsewhere a no-op).
func ResetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// CurrentRSS is the process's resident size now, in bytes (Linux only).
func CurrentRSS() int64 { return statusKB("VmRSS:") }

// PeakRSS is the process's peak resident size since the last reset, in bytes (Linux only).
func PeakRSS() int64 { return statusKB("VmHWM:") }

// statusKB reads a size field of /proc/self/status, in bytes.
func statusKB(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
