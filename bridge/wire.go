package bridge

// The D-Bus wire format, as much of it as a forwarder needs: read a message,
// look at its header, rebuild the header, keep the body as bytes.
//
// Bodies are never decoded as a whole. The forwarder copies them verbatim,
// which keeps every signature intact (the struct-typed Packages a(uss) and
// UpdateDetails a(sasasasasasussuss) signals included). It only parses the
// few simple bodies it has to look into (as, tas, s, su, sss) and builds
// equally simple ones (s, su, as). Alignment inside a body is relative to the
// body's start and the body is re-sent with its original byte order, so a
// copied body stays valid under a rebuilt header.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Message types (fixed header byte 1).
const (
	msgCall   byte = 1
	msgReturn byte = 2
	msgError  byte = 3
	msgSignal byte = 4
)

// Message flags (fixed header byte 2).
const (
	flagNoReplyExpected      byte = 0x1
	flagNoAutoStart          byte = 0x2
	flagAllowInteractiveAuth byte = 0x4
	knownFlags                    = flagNoReplyExpected | flagNoAutoStart | flagAllowInteractiveAuth
)

// Header field codes.
const (
	fieldPath        byte = 1
	fieldInterface   byte = 2
	fieldMember      byte = 3
	fieldErrorName   byte = 4
	fieldReplySerial byte = 5
	fieldDestination byte = 6
	fieldSender      byte = 7
	fieldSignature   byte = 8
	fieldUnixFDs     byte = 9
)

// maxMessageSize is the D-Bus limit on a whole message (128 MiB).
const maxMessageSize = 1 << 27

// message is one D-Bus message with a parsed header and a raw body.
type message struct {
	order       binary.ByteOrder // byte order of the body (and of the header when re-encoded)
	typ         byte
	flags       byte
	serial      uint32
	path        string
	iface       string
	member      string
	errName     string
	replySerial uint32
	dest        string
	sender      string
	sig         string
	unixFDs     uint32
	body        []byte
}

// wantsReply reports whether m is a method call whose caller waits for an answer.
func (m *message) wantsReply() bool {
	return m.typ == msgCall && m.flags&flagNoReplyExpected == 0
}

func (m *message) String() string {
	kind := map[byte]string{msgCall: "call", msgReturn: "return", msgError: "error", msgSignal: "signal"}[m.typ]
	switch m.typ {
	case msgCall, msgSignal:
		return fmt.Sprintf("%s %s.%s on %s from %q", kind, m.iface, m.member, m.path, m.sender)
	case msgError:
		return fmt.Sprintf("%s %s reply to %d from %q", kind, m.errName, m.replySerial, m.sender)
	}
	return fmt.Sprintf("%s reply to %d from %q", kind, m.replySerial, m.sender)
}

// errWire reports a malformed message; the connection it came from is not
// usable any more.
var errWire = errors.New("malformed D-Bus message")

func wireErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errWire, fmt.Sprintf(format, args...))
}

// readMessage reads one message. The returned body aliases a buffer owned by
// the message alone.
func readMessage(r *bufio.Reader) (*message, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return nil, err
	}
	var order binary.ByteOrder
	switch fixed[0] {
	case 'l':
		order = binary.LittleEndian
	case 'B':
		order = binary.BigEndian
	default:
		return nil, wireErr("byte order %q", fixed[0])
	}
	if fixed[3] != 1 {
		return nil, wireErr("protocol version %d", fixed[3])
	}
	bodyLen := uint64(order.Uint32(fixed[4:]))
	fieldsLen := uint64(order.Uint32(fixed[12:]))
	headerEnd := 16 + fieldsLen
	bodyStart := align(headerEnd, 8)
	total := bodyStart + bodyLen
	if total > maxMessageSize {
		return nil, wireErr("message of %d bytes exceeds the D-Bus limit", total)
	}
	buf := make([]byte, total)
	copy(buf, fixed[:])
	if _, err := io.ReadFull(r, buf[16:]); err != nil {
		return nil, err
	}
	m := &message{
		order:  order,
		typ:    fixed[1],
		flags:  fixed[2],
		serial: order.Uint32(fixed[8:]),
		body:   buf[bodyStart:],
	}
	if err := m.parseFields(buf[:headerEnd]); err != nil {
		return nil, err
	}
	return m, nil
}

// parseFields reads the header field array a(yv) that starts at offset 16.
func (m *message) parseFields(hdr []byte) error {
	d := decoder{b: hdr, pos: 16, order: m.order}
	for d.pos < len(hdr) {
		d.align(8)
		code, err := d.byte()
		if err != nil {
			return err
		}
		sig, err := d.signature()
		if err != nil {
			return err
		}
		switch {
		case sig == "o" || sig == "s":
			s, err := d.string()
			if err != nil {
				return err
			}
			switch code {
			case fieldPath:
				m.path = s
			case fieldInterface:
				m.iface = s
			case fieldMember:
				m.member = s
			case fieldErrorName:
				m.errName = s
			case fieldDestination:
				m.dest = s
			case fieldSender:
				m.sender = s
			}
		case sig == "u":
			v, err := d.uint32()
			if err != nil {
				return err
			}
			switch code {
			case fieldReplySerial:
				m.replySerial = v
			case fieldUnixFDs:
				m.unixFDs = v
			}
		case sig == "g":
			s, err := d.signature()
			if err != nil {
				return err
			}
			if code == fieldSignature {
				m.sig = s
			}
		default:
			// A header field this code does not know: skip its value.
			if err := d.skip(sig); err != nil {
				return err
			}
		}
	}
	return nil
}

// encodeHeader returns the fixed header, the header fields and the padding
// up to the body, for m sent with the given serial. The sender field is never
// written: the bus sets it.
func (m *message) encodeHeader(serial uint32) []byte {
	order := m.order
	if order == nil {
		order = binary.LittleEndian
	}
	e := encoder{order: order, b: make([]byte, 16, 128)}
	if order == binary.LittleEndian {
		e.b[0] = 'l'
	} else {
		e.b[0] = 'B'
	}
	e.b[1] = m.typ
	e.b[2] = m.flags
	e.b[3] = 1
	order.PutUint32(e.b[4:], uint32(len(m.body)))
	order.PutUint32(e.b[8:], serial)
	str := func(code byte, sig byte, v string) {
		if v == "" {
			return
		}
		e.align(8)
		e.b = append(e.b, code, 1, sig, 0)
		e.string(v)
	}
	str(fieldPath, 'o', m.path)
	str(fieldInterface, 's', m.iface)
	str(fieldMember, 's', m.member)
	str(fieldErrorName, 's', m.errName)
	if m.typ == msgReturn || m.typ == msgError {
		e.align(8)
		e.b = append(e.b, fieldReplySerial, 1, 'u', 0)
		e.uint32(m.replySerial)
	}
	str(fieldDestination, 's', m.dest)
	if m.sig != "" {
		e.align(8)
		e.b = append(e.b, fieldSignature, 1, 'g', 0)
		e.signature(m.sig)
	}
	order.PutUint32(e.b[12:], uint32(len(e.b)-16))
	e.align(8)
	return e.b
}

func align(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// firstString returns the leading s of a body whose signature starts with s.
func (m *message) firstString() (string, bool) {
	if len(m.sig) == 0 || m.sig[0] != 's' {
		return "", false
	}
	d := decoder{b: m.body, order: m.order}
	s, err := d.string()
	return s, err == nil
}
