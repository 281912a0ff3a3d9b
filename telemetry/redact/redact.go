package redact

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// The built-in rules, by the names configs use.
const (
	Email       = "email"
	CardNumber  = "card_number"
	PhoneNumber = "phone_number"
	APIKey      = "api_key"
)

// Rules returns the names of the built-in rules, in the order they apply.
func Rules() []string { return []string{APIKey, Email, CardNumber, PhoneNumber} }

// The masks that replace what a rule finds.
const (
	maskAPIKey  = "[API_KEY]"
	maskEmail   = "[EMAIL]"
	maskCard    = "[CARD]"
	maskPhone   = "[PHONE]"
	maskPattern = "[REDACTED]"
	maskSecret  = "[SECRET]"
)

// minSecretLen is the shortest exact secret masked: shorter ones would
// mask ordinary words.
const minSecretLen = 8

// rule is one thing to mask: what matches re, when keep does not veto it.
type rule struct {
	re   *regexp.Regexp
	mask string
	// keep, when set, reports that a match is not what the rule is
	// after (a number failing the Luhn check, say) and stays.
	keep func(match string) bool
}

var builtin = map[string][]rule{
	APIKey: {
		{re: regexp.MustCompile(`(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}`), mask: "Bearer " + maskAPIKey},
		{re: regexp.MustCompile(`\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}`), mask: maskAPIKey},
		{re: regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}`), mask: maskAPIKey},
		{re: regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`), mask: maskAPIKey},
		{re: regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{36,}`), mask: maskAPIKey},
		{re: regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`), mask: maskAPIKey},
		// Long random-looking tokens: 32 or more letters, digits, _ and
		// -, with both letters and digits.
		{re: regexp.MustCompile(`\b[A-Za-z0-9_-]{32,}`), mask: maskAPIKey, keep: notRandom},
	},
	Email: {
		{re: regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`), mask: maskEmail},
	},
	CardNumber: {
		{re: regexp.MustCompile(`\b\d(?:[ -]?\d){12,18}\b`), mask: maskCard, keep: notLuhn},
	},
	PhoneNumber: {
		{re: regexp.MustCompile(`(?:\+\d|\(\d|\b\d)[\d ().-]{6,20}\d\b`), mask: maskPhone, keep: notPhone},
	},
}

// Redactor masks text. Create it with New; it is safe for concurrent use.
type Redactor struct {
	rules   []rule
	secrets *strings.Replacer // nil without secrets
}

// New returns a Redactor applying the named built-in rules (of Rules), the
// patterns (RE2 syntax, each match masked as [REDACTED]), and exact
// secrets (masked as [SECRET]; those shorter than 8 bytes are ignored, as
// masking them would mask ordinary words).
func New(rules []string, patterns []string, secrets ...string) (*Redactor, error) {
	r := &Redactor{}
	for _, name := range rules {
		if _, ok := builtin[name]; !ok {
			return nil, fmt.Errorf("unknown redaction rule %q (want %s)", name, strings.Join(Rules(), ", "))
		}
	}
	// Secrets first, then the built-in rules in their order, whatever the
	// order asked: API keys before the digit rules, which would otherwise
	// cut a key in pieces; cards before phones.
	for _, name := range Rules() {
		if slices.Contains(rules, name) {
			r.rules = append(r.rules, builtin[name]...)
		}
	}
	for i, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redaction pattern %d: %w", i, err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("redaction pattern %d (%q) matches the empty string", i, p)
		}
		r.rules = append(r.rules, rule{re: re, mask: maskPattern})
	}
	var pairs []string
	for _, s := range secrets {
		if len(s) >= minSecretLen {
			pairs = append(pairs, s, maskSecret)
		}
	}
	if len(pairs) > 0 {
		// Longer secrets first, so that one containing another is
		// masked whole.
		r.secrets = strings.NewReplacer(sortLongestFirst(pairs)...)
	}
	return r, nil
}

// sortLongestFirst orders old, new pairs by the length of old, longest
// first.
func sortLongestFirst(pairs []string) []string {
	type pair struct{ old, new string }
	ps := make([]pair, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		ps = append(ps, pair{pairs[i], pairs[i+1]})
	}
	slices.SortStableFunc(ps, func(a, b pair) int { return len(b.old) - len(a.old) })
	out := make([]string, 0, len(pairs))
	for _, p := range ps {
		out = append(out, p.old, p.new)
	}
	return out
}

// String returns s with everything r finds masked.
func (r *Redactor) String(s string) string {
	if r == nil || s == "" {
		return s
	}
	if r.secrets != nil {
		s = r.secrets.Replace(s)
	}
	for i := range r.rules {
		ru := &r.rules[i]
		if !ru.re.MatchString(s) {
			continue
		}
		if ru.keep == nil {
			s = ru.re.ReplaceAllLiteralString(s, ru.mask)
			continue
		}
		s = ru.re.ReplaceAllStringFunc(s, func(m string) string {
			if ru.keep(m) {
				return m
			}
			return ru.mask
		})
	}
	return s
}

// notRandom reports whether a long token looks like a word rather than a
// key: it lacks letters or digits.
func notRandom(s string) bool {
	letters, digits := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits = true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letters = true
		}
	}
	return !letters || !digits
}

// digitsOf returns the digits of s.
func digitsOf(s string) []byte {
	d := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; '0' <= c && c <= '9' {
			d = append(d, c-'0')
		}
	}
	return d
}

// notLuhn reports whether a 13 to 19 digit number fails the Luhn check
// that every payment card number passes.
func notLuhn(s string) bool {
	d := digitsOf(s)
	if len(d) < 13 || len(d) > 19 {
		return true
	}
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i])
		if (len(d)-1-i)%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 != 0
}

// notPhone reports whether a run of digits and separators is not a phone
// number: fewer than 9 digits (8 after a +), or more than 15 (E.164's
// limit).
func notPhone(s string) bool {
	n := len(digitsOf(s))
	least := 9
	if strings.HasPrefix(s, "+") {
		least = 8
	}
	return n < least || n > 15
}
