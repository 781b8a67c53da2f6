package packagekit

import (
	"fmt"
	"strconv"
)

// enumNames holds the string forms of one PackageKit enum, indexed by value,
// exactly as PackageKit's pk-enum.c spells them.
type enumNames struct {
	kind  string // "role", "status", ... (used in messages)
	names []string
	index map[string]uint32
}

func newEnumNames(kind string, names ...string) *enumNames {
	e := &enumNames{kind: kind, names: names, index: make(map[string]uint32, len(names))}
	for i, n := range names {
		if _, dup := e.index[n]; dup {
			panic("packagekit: duplicate " + kind + " name " + n)
		}
		e.index[n] = uint32(i)
	}
	return e
}

// format returns the PackageKit string of v, or "kind(v)" for a value this
// package does not know (a newer daemon may send one).
func (e *enumNames) format(v uint32) string {
	if int64(v) < int64(len(e.names)) {
		return e.names[v]
	}
	return e.kind + "(" + strconv.FormatUint(uint64(v), 10) + ")"
}

func (e *enumNames) parse(s string) (uint32, error) {
	if v, ok := e.index[s]; ok {
		return v, nil
	}
	return 0, fmt.Errorf("%w: PackageKit %s %q", ErrUnknownValue, e.kind, s)
}

// known reports whether v has a name.
func (e *enumNames) known(v uint32) bool { return int64(v) < int64(len(e.names)) }

// enum is implemented by every PackageKit enum type of this package; it lets
// Bitfield format and parse its values.
type enum interface {
	~uint32
	String() string
	enumNames() *enumNames
}

// parseEnum parses the PackageKit string form of an enum value.
func parseEnum[E enum](s string) (E, error) {
	var zero E
	v, err := zero.enumNames().parse(s)
	return E(v), err
}

// unmarshalEnum implements encoding.TextUnmarshaler for the enum types.
func unmarshalEnum[E enum](dst *E, text []byte) error {
	v, err := parseEnum[E](string(text))
	if err != nil {
		return err
	}
	*dst = v
	return nil
}
