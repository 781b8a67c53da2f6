package packagekit

import (
	"fmt"
	"math/bits"
	"strings"
)

// Bitfield is a set of enum values as PackageKit sends it on the bus (a
// uint64, D-Bus type "t"): bit n is set when value n is in the set. Roles,
// Filters, Groups and TransactionFlags are its instances.
type Bitfield[E enum] uint64

// Roles is a set of roles, e.g. the actions a backend supports.
type Roles = Bitfield[Role]

// Filters is a set of filters for a query.
type Filters = Bitfield[Filter]

// Groups is a set of package groups.
type Groups = Bitfield[Group]

// TransactionFlags is a set of transaction flags.
type TransactionFlags = Bitfield[TransactionFlag]

// NoFilter is the filter argument for "no filtering": the "none" filter,
// whose value is 2 (bit 1), not 0.
const NoFilter Filters = 1 << FilterNone

// BitfieldOf returns the set of the given values.
func BitfieldOf[E enum](values ...E) Bitfield[E] {
	var b Bitfield[E]
	return b.With(values...)
}

// Has reports whether v is in the set.
func (b Bitfield[E]) Has(v E) bool {
	return uint32(v) < 64 && b&(1<<uint32(v)) != 0
}

// With returns the set with the values added. Values of 64 or more cannot be
// represented and are ignored.
func (b Bitfield[E]) With(values ...E) Bitfield[E] {
	for _, v := range values {
		if uint32(v) < 64 {
			b |= 1 << uint32(v)
		}
	}
	return b
}

// Without returns the set with the values removed.
func (b Bitfield[E]) Without(values ...E) Bitfield[E] {
	for _, v := range values {
		if uint32(v) < 64 {
			b &^= 1 << uint32(v)
		}
	}
	return b
}

// Values returns the values in the set, lowest first.
func (b Bitfield[E]) Values() []E {
	out := make([]E, 0, bits.OnesCount64(uint64(b)))
	for rest := uint64(b); rest != 0; rest &= rest - 1 {
		out = append(out, E(bits.TrailingZeros64(rest)))
	}
	return out
}

// String returns the values' PackageKit names joined by ';', lowest first,
// e.g. "installed;~devel"; the empty set is "".
func (b Bitfield[E]) String() string {
	var sb strings.Builder
	for i, v := range b.Values() {
		if i > 0 {
			sb.WriteByte(';')
		}
		sb.WriteString(v.String())
	}
	return sb.String()
}

// MarshalText encodes the set as its string form.
func (b Bitfield[E]) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText parses the string form.
func (b *Bitfield[E]) UnmarshalText(text []byte) error {
	v, err := ParseBitfield[E](string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// ParseBitfield parses a ';'-separated list of PackageKit names such as
// "installed;~devel". The empty string is the empty set. Unlike PackageKit,
// which skips names it does not know, an unknown or empty element is an
// error.
func ParseBitfield[E enum](s string) (Bitfield[E], error) {
	var b Bitfield[E]
	if s == "" {
		return b, nil
	}
	for part := range strings.SplitSeq(s, ";") {
		v, err := parseEnum[E](part)
		if err != nil {
			return 0, fmt.Errorf("parse %q: %w", s, err)
		}
		if uint32(v) >= 64 {
			return 0, fmt.Errorf("parse %q: %s does not fit in a bitfield", s, part)
		}
		b = b.With(v)
	}
	return b, nil
}

// ParseFilters parses filters in PackageKit's string form, e.g.
// "installed;~devel" or "none".
func ParseFilters(s string) (Filters, error) { return ParseBitfield[Filter](s) }

// ParseTransactionFlags parses transaction flags, e.g. "simulate;only-trusted".
func ParseTransactionFlags(s string) (TransactionFlags, error) {
	return ParseBitfield[TransactionFlag](s)
}
