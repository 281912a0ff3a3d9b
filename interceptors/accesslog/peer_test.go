package accesslog

import (
	"fmt"
	"net"
	"testing"
)

// formatted is an error that formats differently from its Error.
type formatted struct{}

func (formatted) Error() string                 { return "plain" }
func (formatted) Format(s fmt.State, verb rune) { fmt.Fprintf(s, "formatted-%c", verb) }

func TestPeerAddress(t *testing.T) {
	for _, give := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 54321},
		&net.TCPAddr{IP: net.IP{10, 200, 0, 255}, Port: 0},
		&net.TCPAddr{IP: net.IPv4(1, 2, 3, 4), Port: -1},
		&net.TCPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 80, Zone: "eth0"},
		&net.TCPAddr{IP: net.ParseIP("::1"), Port: 8080},
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 8080, Zone: "lo"},
		&net.TCPAddr{Port: 9},
		&net.UnixAddr{Name: "/tmp/sock", Net: "unix"},
	} {
		if got, want := peerAddress(give), give.String(); got != want {
			t.Errorf("peerAddress(%#v) = %q, want %q", give, got, want)
		}
	}
}

func TestErrorText(t *testing.T) {
	for _, give := range []error{fmt.Errorf("wrapped: %w", net.ErrClosed), formatted{}} {
		if got, want := errorText(give), fmt.Sprintf("%v", give); got != want {
			t.Errorf("errorText(%#v) = %q, want %q", give, got, want)
		}
	}
}
