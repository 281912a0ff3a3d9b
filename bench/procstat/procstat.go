package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for user space on every architecture it exposes
// /proc to.
const userHZ = 100

// Stat is a process's resource use at one moment.
type Stat struct {
	// CPU is the user plus system CPU time the process has used.
	CPU time.Duration
	// RSS is the resident set size, in bytes.
	RSS int64
	// PeakRSS is the highest RSS since the process started or since the
	// last ResetPeak, in bytes.
	PeakRSS int64
	// Threads is the number of OS threads.
	Threads int
}

// Read returns the resource use of process pid.
func Read(pid int) (Stat, error) {
	var s Stat
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, fmt.Errorf("reading stat: %w", err)
	}
	s.CPU, err = parseCPU(stat)
	if err != nil {
		return s, fmt.Errorf("process %d: %w", pid, err)
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return s, fmt.Errorf("reading status: %w", err)
	}
	if err := parseStatus(status, &s); err != nil {
		return s, fmt.Errorf("process %d: %w", pid, err)
	}
	return s, nil
}

// parseCPU returns utime + stime from the text of /proc/PID/stat. The
// command name, field 2, is in parentheses and may hold spaces and
// parentheses itself, so fields are counted from the last ')'.
func parseCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no command name", stat)
	}
	// After ") " come fields 3 (state) onwards; utime and stime are
	// fields 14 and 15.
	fields := bytes.Fields(stat[i+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least 13", len(fields))
	}
	utime, err1 := strconv.ParseInt(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: utime %q, stime %q: want integers", fields[11], fields[12])
	}
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}

// parseStatus fills the memory and thread fields of s from the text of
// /proc/PID/status.
func parseStatus(status []byte, s *Stat) error {
	found := 0
	for _, line := range bytes.Split(status, []byte("\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "VmRSS":
			dst = &s.RSS
		case "VmHWM":
			dst = &s.PeakRSS
		case "Threads":
			n, err := strconv.Atoi(string(bytes.TrimSpace(value)))
			if err != nil {
				return fmt.Errorf("status: Threads %q: want an integer", value)
			}
			s.Threads = n
			found++
			continue
		default:
			continue
		}
		kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(value), []byte("kB")))), 10, 64)
		if err != nil {
			return fmt.Errorf("status: %s %q: want a size in kB", name, value)
		}
		*dst = kb << 10
		found++
	}
	if found < 3 {
		return fmt.Errorf("status: VmRSS, VmHWM or Threads missing (a zombie or kernel thread?)")
	}
	return nil
}

// ResetPeak resets the peak RSS of process pid to its current RSS.
func ResetPeak(pid int) error {
	if err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting the peak RSS of process %d: %w", pid, err)
	}
	return nil
}
