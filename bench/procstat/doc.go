// Package procstat reads a Linux process's resource use from /proc: CPU
// time (user + system, /proc/PID/stat), resident memory and its peak
// (VmRSS, VmHWM in /proc/PID/status) and thread count, and resets the
// peak (/proc/PID/clear_refs) so that the peak of one benchmark point can
// be read apart from the others.
package procstat
