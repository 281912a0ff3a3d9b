package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParseCPU(t *testing.T) {
	tests := []struct {
		give    string
		want    time.Duration
		wantErr bool
	}{
		{
			give: "1234 (llmgateway) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 8 0 100 0 0",
			want: 3 * time.Second,
		},
		{
			give: "42 (a) b) (c) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 0 0",
			want: 100 * time.Millisecond,
		},
		{give: "42 (short) R 1 2 3", wantErr: true},
		{give: "no parenthesis", wantErr: true},
		{give: "42 (x) R 1 42 42 0 -1 0 0 0 0 0 x 3 0", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseCPU([]byte(tt.give))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseCPU(%q) = %v, %v, want %v (error %v)", tt.give, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		give    string
		want    Stat
		wantErr bool
	}{
		{
			give: "Name:\tllmgateway\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t9\n",
			want: Stat{RSS: 10 << 20, PeakRSS: 20 << 20, Threads: 9},
		},
		{give: "Name:\tkthreadd\nThreads:\t1\n", wantErr: true},
		{give: "VmHWM:\tmany kB\nVmRSS:\t1 kB\nThreads:\t1\n", wantErr: true},
	}
	for _, tt := range tests {
		var got Stat
		err := parseStatus([]byte(tt.give), &got)
		if (err != nil) != tt.wantErr || !tt.wantErr && got != tt.want {
			t.Errorf("parseStatus(%q) = %+v, %v, want %+v (error %v)", tt.give, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestReadSelf(t *testing.T) {
	// Burn a little CPU so that the reading cannot be zero.
	deadline := time.Now().Add(30 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	s, err := Read(os.Getpid())
	if err != nil {
		t.Fatalf("Read(self) = %v", err)
	}
	if s.RSS <= 0 || s.PeakRSS < s.RSS || s.Threads < 1 {
		t.Errorf("Read(self) = %+v, want RSS > 0, PeakRSS >= RSS, Threads >= 1", s)
	}
	if err := ResetPeak(os.Getpid()); err != nil {
		t.Logf("ResetPeak(self) = %v (the kernel may not allow it here)", err)
	}
	if _, err := Read(1 << 30); err == nil {
		t.Errorf("Read(no such pid) = nil error, want one")
	}
}
