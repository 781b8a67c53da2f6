package lifecycle

import (
	"fmt"
	"strings"
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
		return fmt.Errorf("%w: container name %q %s (use letters, digits and '-', starting with a letter, at most %d characters)",
			ErrInvalidArgument, name, why, MaxNameLength)
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
