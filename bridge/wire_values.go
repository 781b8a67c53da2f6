package bridge

// Reading and writing D-Bus values inside a header or a body: enough to step
// over any value and to handle the simple types the forwarder looks into.

import (
	"encoding/binary"
	"fmt"
)

// decoder reads D-Bus values from b; alignment is relative to b[0].
type decoder struct {
	b     []byte
	pos   int
	order binary.ByteOrder
}

func (d *decoder) align(n int) { d.pos = (d.pos + n - 1) &^ (n - 1) }

func (d *decoder) need(n int) error {
	if n < 0 || d.pos > len(d.b) || len(d.b)-d.pos < n {
		return wireErr("value runs past the end of its buffer")
	}
	return nil
}

func (d *decoder) byte() (byte, error) {
	if err := d.need(1); err != nil {
		return 0, err
	}
	d.pos++
	return d.b[d.pos-1], nil
}

func (d *decoder) uint32() (uint32, error) {
	d.align(4)
	if err := d.need(4); err != nil {
		return 0, err
	}
	d.pos += 4
	return d.order.Uint32(d.b[d.pos-4:]), nil
}

func (d *decoder) uint64() (uint64, error) {
	d.align(8)
	if err := d.need(8); err != nil {
		return 0, err
	}
	d.pos += 8
	return d.order.Uint64(d.b[d.pos-8:]), nil
}

// string reads an s or o value.
func (d *decoder) string() (string, error) {
	n, err := d.uint32()
	if err != nil {
		return "", err
	}
	return d.nulTerminated(int(n))
}

// signature reads a g value.
func (d *decoder) signature() (string, error) {
	n, err := d.byte()
	if err != nil {
		return "", err
	}
	return d.nulTerminated(int(n))
}

// nulTerminated reads n bytes as a string and skips the NUL after them.
func (d *decoder) nulTerminated(n int) (string, error) {
	if err := d.need(n + 1); err != nil {
		return "", err
	}
	s := string(d.b[d.pos : d.pos+n])
	d.pos += n + 1
	return s, nil
}

// strings reads an as value.
func (d *decoder) strings() ([]string, error) {
	n, err := d.uint32()
	if err != nil {
		return nil, err
	}
	d.align(4)
	end := d.pos + int(n)
	if err := d.need(int(n)); err != nil {
		return nil, err
	}
	var out []string
	for d.pos < end {
		s, err := d.string()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if d.pos != end {
		return nil, wireErr("string array length mismatch")
	}
	return out, nil
}

// skip steps over one complete value of type sig (a single complete type).
func (d *decoder) skip(sig string) error {
	if sig == "" {
		return wireErr("empty signature")
	}
	rest, err := d.skipOne(sig, 0)
	if err != nil {
		return err
	}
	if rest != "" {
		return wireErr("variant signature %q holds more than one type", sig)
	}
	return nil
}

// skipOne steps over the value of the first complete type in sig and returns
// the rest of sig.
func (d *decoder) skipOne(sig string, depth int) (string, error) {
	if depth > 64 {
		return "", wireErr("nesting too deep")
	}
	if sig == "" {
		return "", wireErr("truncated signature")
	}
	fixed := func(n int) (string, error) {
		d.align(n)
		if err := d.need(n); err != nil {
			return "", err
		}
		d.pos += n
		return sig[1:], nil
	}
	switch sig[0] {
	case 'y':
		return fixed(1)
	case 'n', 'q':
		return fixed(2)
	case 'b', 'i', 'u', 'h':
		return fixed(4)
	case 'x', 't', 'd':
		return fixed(8)
	case 's', 'o':
		_, err := d.string()
		return sig[1:], err
	case 'g':
		_, err := d.signature()
		return sig[1:], err
	case 'v':
		inner, err := d.signature()
		if err != nil {
			return "", err
		}
		rest, err := d.skipOne(inner, depth+1)
		if err != nil {
			return "", err
		}
		if rest != "" {
			return "", wireErr("variant signature %q holds more than one type", inner)
		}
		return sig[1:], nil
	case 'a':
		n, err := d.uint32()
		if err != nil {
			return "", err
		}
		elem, rest, err := splitType(sig[1:])
		if err != nil {
			return "", err
		}
		d.align(alignOf(elem[0]))
		if err := d.need(int(n)); err != nil {
			return "", err
		}
		d.pos += int(n)
		return rest, nil
	case '(', '{':
		closer := map[byte]byte{'(': ')', '{': '}'}[sig[0]]
		d.align(8)
		s := sig[1:]
		for s != "" && s[0] != closer {
			var err error
			if s, err = d.skipOne(s, depth+1); err != nil {
				return "", err
			}
		}
		if s == "" {
			return "", wireErr("unterminated struct in signature")
		}
		return s[1:], nil
	}
	return "", wireErr("unknown type code %q", sig[0])
}

// splitType splits the first complete type off sig.
func splitType(sig string) (first, rest string, err error) {
	if sig == "" {
		return "", "", wireErr("truncated signature")
	}
	switch sig[0] {
	case 'a':
		_, r, err := splitType(sig[1:])
		if err != nil {
			return "", "", err
		}
		return sig[:len(sig)-len(r)], r, nil
	case '(', '{':
		depth := 0
		for i := 0; i < len(sig); i++ {
			switch sig[i] {
			case '(', '{':
				depth++
			case ')', '}':
				depth--
				if depth == 0 {
					return sig[:i+1], sig[i+1:], nil
				}
			}
		}
		return "", "", wireErr("unbalanced signature %q", sig)
	}
	return sig[:1], sig[1:], nil
}

func alignOf(code byte) int {
	switch code {
	case 'n', 'q':
		return 2
	case 'b', 'i', 'u', 'h', 's', 'o', 'a':
		return 4
	case 'x', 't', 'd', '(', '{':
		return 8
	}
	return 1
}

// encoder appends D-Bus values to b; alignment is relative to b[0].
type encoder struct {
	b     []byte
	order binary.ByteOrder
}

func (e *encoder) align(n int) {
	for len(e.b)%n != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) uint32(v uint32) {
	e.align(4)
	e.b = append(e.b, 0, 0, 0, 0)
	e.order.PutUint32(e.b[len(e.b)-4:], v)
}

func (e *encoder) string(s string) {
	e.uint32(uint32(len(s)))
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
}

func (e *encoder) signature(s string) {
	e.b = append(e.b, byte(len(s)))
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
}

func (e *encoder) strings(ss []string) {
	e.uint32(0)
	lenAt := len(e.b) - 4
	start := len(e.b) // strings are 4-aligned: no padding after the length
	for _, s := range ss {
		e.string(s)
	}
	e.order.PutUint32(e.b[lenAt:], uint32(len(e.b)-start))
}

// bodyOf encodes a body made of strings (s) and uint32s (u), little-endian.
func bodyOf(values ...any) (sig string, body []byte) {
	e := encoder{order: binary.LittleEndian}
	for _, v := range values {
		switch v := v.(type) {
		case string:
			sig += "s"
			e.string(v)
		case uint32:
			sig += "u"
			e.uint32(v)
		case []string:
			sig += "as"
			e.strings(v)
		default:
			panic(fmt.Sprintf("bodyOf: unsupported %T", v))
		}
	}
	return sig, e.b
}
