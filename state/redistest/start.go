package redistest

import (
	"errors"
	"os"
	"testing"
)

// New returns the address of a Redis server for t: the package's shared
// one when EnvAddr names it, else a server started for t and stopped when
// t ends. Without redis-server it skips t, or fails it when EnvRequire is
// 1. Packages whose TestMain cannot be wrapped use it.
func New(t testing.TB) string {
	t.Helper()
	if a := os.Getenv(EnvAddr); a != "" {
		return a
	}
	s, err := Start()
	switch {
	case errors.Is(err, ErrNotInstalled) && os.Getenv(EnvRequire) == "1":
		t.Fatalf("%v, and %s=1 requires it (run `make deps`)", err, EnvRequire)
	case errors.Is(err, ErrNotInstalled):
		t.Skipf("%v: skipping a test that needs Redis (set %s=1 to fail instead)", err, EnvRequire)
	case err != nil:
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s.Addr
}
