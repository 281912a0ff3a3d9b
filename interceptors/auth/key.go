package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeyPrefix starts every API key.
const KeyPrefix = "sk-"

// Limits on the parts of a key.
const (
	MaxIDLen     = 64
	MaxSecretLen = 128
	// secretLen is the length of a generated secret: 40 characters of 62,
	// about 238 bits.
	secretLen = 40
)

// ErrMalformedKey is returned by ParseKey for text that is not a key.
var ErrMalformedKey = errors.New("malformed API key: keys look like sk-<id>-<secret>")

// Key is a virtual API key as the gateway holds it: the public id, the
// SHA-256 of the secret (never the secret), and the key's policy. A Key
// is read-only once it authenticates calls: the door's interceptors
// remember what they derive from it.
type Key struct {
	// ID is the public id inside the key.
	ID string
	// Name describes the key, for people.
	Name         string
	SecretSHA256 [32]byte
	// Models are the models the key may use, as names or globs (* and ?),
	// matched against the canonical model name; empty allows every model.
	Models []string
	// RPM, TPM and MaxConcurrent limit requests per minute, tokens per
	// minute and requests in flight; 0 is no limit.
	RPM, TPM, MaxConcurrent int64
	// DailyUSD and MonthlyUSD are budgets per UTC day and month; 0 is no
	// budget.
	DailyUSD, MonthlyUSD float64
	// Labels (team, app) flow into usage records.
	Labels map[string]string
	// Admin keys may read everyone's usage.
	Admin bool
}

// ValidID reports whether s can be a key id: 1 to MaxIDLen letters,
// digits and underscores.
func ValidID(s string) bool { return len(s) <= MaxIDLen && validPart(s) }

func validPart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ParseKey splits a key into its id and secret. The error says what is
// wrong without repeating the key.
func ParseKey(s string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(s, KeyPrefix)
	if !ok {
		return "", "", fmt.Errorf("%w (it does not start with %q)", ErrMalformedKey, KeyPrefix)
	}
	id, secret, ok = strings.Cut(rest, "-")
	switch {
	case !ok:
		return "", "", fmt.Errorf("%w (no - between id and secret)", ErrMalformedKey)
	case !ValidID(id):
		return "", "", fmt.Errorf("%w (the id must be 1 to %d letters, digits or underscores)", ErrMalformedKey, MaxIDLen)
	case len(secret) > MaxSecretLen || !validPart(secret):
		return "", "", fmt.Errorf("%w (the secret must be 1 to %d letters, digits or underscores)", ErrMalformedKey, MaxSecretLen)
	}
	return id, secret, nil
}

// HashSecret returns the SHA-256 of a key's secret.
func HashSecret(secret string) [32]byte {
	// A secret of up to MaxSecretLen bytes is copied to the stack: the
	// compiler's own buffer for []byte(secret) holds only 32 bytes, and
	// a generated secret is longer.
	if len(secret) <= MaxSecretLen {
		var buf [MaxSecretLen]byte
		return sha256.Sum256(append(buf[:0], secret...))
	}
	return sha256.Sum256([]byte(secret))
}

// ParseSecretSHA256 decodes the hex SHA-256 of a secret, as configs hold it.
func ParseSecretSHA256(s string) ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, errors.New("want 64 hexadecimal digits, the SHA-256 of the key's secret")
	}
	copy(h[:], b)
	return h, nil
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Generate returns a new key with the given id and a random secret, and
// the hex SHA-256 of the secret to put in the config.
func Generate(id string) (key, secretSHA256 string, err error) {
	if !ValidID(id) {
		return "", "", fmt.Errorf("key id %q: must be 1 to %d letters, digits or underscores", id, MaxIDLen)
	}
	secret := randomString(secretLen, alphabet)
	h := HashSecret(secret)
	return KeyPrefix + id + "-" + secret, hex.EncodeToString(h[:]), nil
}

// randomString returns n characters drawn uniformly from chars (at most
// 256 of them) with crypto/rand.
func randomString(n int, chars string) string {
	out := make([]byte, 0, n)
	limit := 256 - 256%len(chars) // reject bytes that would bias the draw
	var buf [64]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand)
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, chars[int(b)%len(chars)])
			}
		}
	}
	return string(out)
}

// NewID returns a key id for a key called name: the name in lower case,
// with every run of other characters than letters and digits made one
// underscore, cut to 24 characters, then an underscore and 6 random
// letters and digits, so that keys of the same name differ.
func NewID(name string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(name) {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
		if b.Len() >= 24 {
			break
		}
	}
	base := strings.TrimRight(b.String(), "_")
	if base == "" {
		base = "key"
	}
	return base + "_" + randomString(6, "abcdefghijklmnopqrstuvwxyz0123456789")
}
