package lifecycle

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxNameLength is the longest container name Incus accepts (a hostname label).
const MaxNameLength = 63

// ValidateName checks a container name against Incus's rules for instance
// names: 1-63 characters, ASCII letters, digits and '-', not starting with
// a digit or '-', not ending with '-'. The name also becomes the
// container's hostname, part of a D-Bus name and of object paths, so
// nothing else may pass.
func ValidateName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: container name %s %s (use letters, digits and '-', starting with a letter, at most %d characters)",
			ErrInvalidArgument, QuoteInput(name), why, MaxNameLength)
	}
	switch {
	case name == "":
		return fmt.Errorf("%w: empty container name", ErrInvalidArgument)
	case len(name) > MaxNameLength:
		return bad(fmt.Sprintf("is %d characters long", len(name)))
	case name[0] >= '0' && name[0] <= '9':
		return bad("starts with a digit")
	case name[0] == '-':
		return bad("starts with '-'")
	case strings.HasSuffix(name, "-"):
		return bad("ends with '-'")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			continue
		}
		return bad(fmt.Sprintf("contains %q", rune(c)))
	}
	return nil
}

// maxQuoted is how much of a refused input an error message quotes.
const maxQuoted = 64

// QuoteInput quotes user input for an error message, as %q does, but
// only its first 64 bytes (whole characters) when it is longer, followed
// by its length: a megabyte-long name must not come back as a megabyte
// of error.
func QuoteInput(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:cut]), len(s))
}
