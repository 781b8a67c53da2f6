package bridge

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/godbus/dbus/v5"
)

type wirePackage struct {
	Info    uint32
	ID      string
	Summary string
}

// sampleMessages are messages encoded by godbus, the reference codec.
func sampleMessages() map[string]*dbus.Message {
	hdr := func(kv ...any) map[dbus.HeaderField]dbus.Variant {
		h := map[dbus.HeaderField]dbus.Variant{}
		for i := 0; i < len(kv); i += 2 {
			h[kv[i].(dbus.HeaderField)] = dbus.MakeVariant(kv[i+1])
		}
		return h
	}
	withBody := func(m *dbus.Message, body ...any) *dbus.Message {
		m.Body = body
		m.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(body...))
		return m
	}
	return map[string]*dbus.Message{
		"call without body": {Type: dbus.TypeMethodCall, Flags: dbus.FlagNoAutoStart, Headers: hdr(
			dbus.FieldPath, dbus.ObjectPath(pkPath), dbus.FieldInterface, pkIface,
			dbus.FieldMember, "CreateTransaction", dbus.FieldDestination, "org.kde.kapsule.PackageKit.dev",
			dbus.FieldSender, ":1.42")},
		"call with hints": withBody(&dbus.Message{Type: dbus.TypeMethodCall, Flags: dbus.FlagNoReplyExpected | dbus.FlagAllowInteractiveAuthorization, Headers: hdr(
			dbus.FieldPath, dbus.ObjectPath("/12_abcdef01"), dbus.FieldInterface, pkTxIface,
			dbus.FieldMember, "SetHints", dbus.FieldDestination, pkName)},
			[]string{"locale=de_DE.UTF-8", "frontend-socket=/run/user/1000/pk-debconf-socket", "", "supports-plural-signals=true"}),
		"install files": withBody(&dbus.Message{Type: dbus.TypeMethodCall, Headers: hdr(
			dbus.FieldPath, dbus.ObjectPath("/3_00ff00ff"), dbus.FieldInterface, pkTxIface,
			dbus.FieldMember, "InstallFiles", dbus.FieldDestination, pkName)},
			uint64(1<<2), []string{"/home/u/a.deb", "/home/u/b c.deb"}),
		"struct signal": withBody(&dbus.Message{Type: dbus.TypeSignal, Headers: hdr(
			dbus.FieldPath, dbus.ObjectPath("/3_00ff00ff"), dbus.FieldInterface, pkTxIface,
			dbus.FieldMember, "Packages", dbus.FieldSender, ":1.7")},
			[]wirePackage{{2, "a;1;amd64;r", "A"}, {8 | 7<<16, "bé;2;all;r", ""}}),
		"empty struct array": withBody(&dbus.Message{Type: dbus.TypeSignal, Headers: hdr(
			dbus.FieldPath, dbus.ObjectPath("/3_00ff00ff"), dbus.FieldInterface, pkTxIface,
			dbus.FieldMember, "Packages")},
			[]wirePackage{}),
		"variants and dicts": withBody(&dbus.Message{Type: dbus.TypeMethodReply, Headers: hdr(
			dbus.FieldReplySerial, uint32(77), dbus.FieldDestination, ":1.3")},
			map[string]dbus.Variant{
				"Roles": dbus.MakeVariant(uint64(1 << 40)), "MimeTypes": dbus.MakeVariant([]string{"a/b"}),
				"Struct": dbus.MakeVariant(wirePackage{1, "x", "y"}), "Byte": dbus.MakeVariant(byte(7)),
			}, byte(1), int16(-2), true, 3.5, dbus.Signature{}, []byte{1, 2, 3}),
		"error": withBody(&dbus.Message{Type: dbus.TypeError, Headers: hdr(
			dbus.FieldReplySerial, uint32(5), dbus.FieldErrorName, pkTxIface+".RefusedByPolicy",
			dbus.FieldDestination, ":1.3", dbus.FieldSender, ":1.9")},
			"sender does not match"),
		"history": withBody(&dbus.Message{Type: dbus.TypeMethodReply, Headers: hdr(dbus.FieldReplySerial, uint32(9))},
			map[string][]map[string]dbus.Variant{"hello": {{"info": dbus.MakeVariant(uint32(1))}}}),
	}
}

func encodeGodbus(t *testing.T, m *dbus.Message, order binary.ByteOrder) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := m.EncodeTo(&buf, order); err != nil {
		t.Fatalf("godbus encode: %v", err)
	}
	return buf.Bytes()
}

func headerString(m *dbus.Message, f dbus.HeaderField) string {
	v, ok := m.Headers[f]
	if !ok {
		return ""
	}
	switch x := v.Value().(type) {
	case dbus.ObjectPath:
		return string(x)
	case dbus.Signature:
		return x.String()
	case string:
		return x
	}
	return ""
}

func TestReadMessageAgainstGodbus(t *testing.T) {
	t.Parallel()
	for name, gm := range sampleMessages() {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			raw := encodeGodbus(t, gm, order)
			m, err := readMessage(bufio.NewReader(bytes.NewReader(raw)))
			if err != nil {
				t.Fatalf("%s %v: %v", name, order, err)
			}
			rs, _ := gm.Headers[dbus.FieldReplySerial].Value().(uint32)
			got := []any{m.typ, m.flags, m.path, m.iface, m.member, m.errName, m.replySerial, m.dest, m.sender, m.sig}
			want := []any{byte(gm.Type), byte(gm.Flags), headerString(gm, dbus.FieldPath), headerString(gm, dbus.FieldInterface),
				headerString(gm, dbus.FieldMember), headerString(gm, dbus.FieldErrorName), rs,
				headerString(gm, dbus.FieldDestination), headerString(gm, dbus.FieldSender), headerString(gm, dbus.FieldSignature)}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %v: parsed %v, want %v", name, order, got, want)
			}
			if !bytes.Equal(m.body, raw[len(raw)-len(m.body):]) || m.order != order {
				t.Errorf("%s %v: body not the message's tail", name, order)
			}
			// The body alone decodes to the same values.
			if len(gm.Body) > 0 {
				var d decoder
				d = decoder{b: m.body, order: m.order}
				for sig := m.sig; sig != ""; {
					one, rest, err := splitType(sig)
					if err != nil {
						t.Fatal(err)
					}
					if err := d.skip(one); err != nil {
						t.Fatalf("%s: skip %s: %v", name, one, err)
					}
					sig = rest
				}
				if d.pos != len(m.body) {
					t.Errorf("%s %v: skipping the body ended at %d of %d", name, order, d.pos, len(m.body))
				}
			}
		}
	}
}

// TestEncodeHeaderAgainstGodbus re-sends each message under a rebuilt
// header and decodes it with godbus: same type, flags, fields (the sender
// dropped), serial and body values.
func TestEncodeHeaderAgainstGodbus(t *testing.T) {
	t.Parallel()
	for name, gm := range sampleMessages() {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			m, err := readMessage(bufio.NewReader(bytes.NewReader(encodeGodbus(t, gm, order))))
			if err != nil {
				t.Fatal(err)
			}
			raw := append(m.encodeHeader(4242), m.body...)
			back, err := dbus.DecodeMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("%s %v: godbus cannot decode the rebuilt message: %v", name, order, err)
			}
			if back.Serial() != 4242 || back.Type != gm.Type || back.Flags != gm.Flags {
				t.Errorf("%s: serial %d type %v flags %v", name, back.Serial(), back.Type, back.Flags)
			}
			wantHeaders := map[dbus.HeaderField]dbus.Variant{}
			for k, v := range gm.Headers {
				if k != dbus.FieldSender {
					wantHeaders[k] = v
				}
			}
			if !reflect.DeepEqual(back.Headers, wantHeaders) {
				t.Errorf("%s %v: headers %v, want %v", name, order, back.Headers, wantHeaders)
			}
			want, err := dbus.DecodeMessage(bytes.NewReader(encodeGodbus(t, gm, order)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Body, want.Body) {
				t.Errorf("%s %v: body %#v, want %#v", name, order, back.Body, want.Body)
			}
		}
	}
}

// TestReadMessageSkipsUnknownHeaderFields: fields a later bus may add are
// stepped over, whatever their type.
func TestReadMessageSkipsUnknownHeaderFields(t *testing.T) {
	t.Parallel()
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		base := &message{order: order, typ: msgSignal, path: "/1_ab", iface: pkTxIface, member: "Finished", sig: "uu"}
		e := encoder{order: order}
		e.uint32(1)
		e.uint32(20)
		base.body = e.b
		hdr := base.encodeHeader(9)
		fieldsEnd := 16 + int(order.Uint32(hdr[12:]))
		// Append field 10 of type a{sv} and field 11 of type (yv).
		x := encoder{order: order, b: append([]byte{}, hdr[:fieldsEnd]...)}
		x.align(8)
		x.b = append(x.b, 10)
		x.signature("a{sv}")
		x.uint32(0)
		lenAt := len(x.b) - 4
		x.align(8)
		start := len(x.b)
		x.string("k")
		x.signature("s")
		x.string("v")
		order.PutUint32(x.b[lenAt:], uint32(len(x.b)-start))
		x.align(8)
		x.b = append(x.b, 11)
		x.signature("(yv)")
		x.align(8)
		x.b = append(x.b, 3)
		x.signature("u")
		x.uint32(7)
		order.PutUint32(x.b[12:], uint32(len(x.b)-16))
		x.align(8)
		raw := append(x.b, base.body...)
		m, err := readMessage(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("%v: %v", order, err)
		}
		if m.path != "/1_ab" || m.member != "Finished" || m.sig != "uu" || !bytes.Equal(m.body, base.body) || m.serial != 9 {
			t.Errorf("%v: parsed %+v", order, m)
		}
	}
}

func TestReadMessageRejectsGarbage(t *testing.T) {
	t.Parallel()
	good := encodeGodbus(t, sampleMessages()["call with hints"], binary.LittleEndian)
	for name, raw := range map[string][]byte{
		"byte order":  append([]byte{'x'}, good[1:]...),
		"version":     append(append([]byte{}, good[:3]...), append([]byte{2}, good[4:]...)...),
		"truncated":   good[:len(good)-3],
		"huge":        append(append([]byte{}, good[:4]...), append([]byte{0xff, 0xff, 0xff, 0x7f}, good[8:]...)...),
		"short field": func() []byte { b := append([]byte{}, good...); b[12] = 3; return b }(),
	} {
		if _, err := readMessage(bufio.NewReader(bytes.NewReader(raw))); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestStringArrayCodec checks the as codec (used to rewrite SetHints)
// against godbus in both byte orders.
func TestStringArrayCodec(t *testing.T) {
	t.Parallel()
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, ss := range [][]string{nil, {""}, {"a"}, {"locale=C", "", "x=yyyyyyy", "ünïcødé"}} {
			e := encoder{order: order}
			e.strings(ss)
			want := encodeGodbus(t, &dbus.Message{Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
				dbus.FieldReplySerial: dbus.MakeVariant(uint32(1)), dbus.FieldSignature: dbus.MakeVariant(dbus.ParseSignatureMust("as")),
			}, Body: []any{append([]string{}, ss...)}}, order)
			if !bytes.Equal(e.b, want[len(want)-len(e.b):]) || order.Uint32(want[4:]) != uint32(len(e.b)) {
				t.Errorf("%v %q: encoded %x, godbus %x", order, ss, e.b, want)
			}
			d := decoder{b: e.b, order: order}
			got, err := d.strings()
			if err != nil || len(got) != len(ss) || (len(ss) > 0 && !reflect.DeepEqual(got, ss)) {
				t.Errorf("%v %q: decoded %q, %v", order, ss, got, err)
			}
		}
	}
}

// TestRewriteHintsKeepsByteOrder: a big-endian SetHints is rewritten
// big-endian.
func TestRewriteHintsKeepsByteOrder(t *testing.T) {
	t.Parallel()
	f := &Forwarder{cfg: ForwarderConfig{Container: "dev"}}
	gm := sampleMessages()["call with hints"]
	m, err := readMessage(bufio.NewReader(bytes.NewReader(encodeGodbus(t, gm, binary.BigEndian))))
	if err != nil {
		t.Fatal(err)
	}
	body, ref := f.screen(m)
	if ref != nil {
		t.Fatal(ref.text)
	}
	m.body = body
	back, err := dbus.DecodeMessage(bytes.NewReader(append(m.encodeHeader(1), m.body...)))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"locale=de_DE.UTF-8", "", "supports-plural-signals=true"}; !reflect.DeepEqual(back.Body, []any{want}) {
		t.Errorf("rewritten hints %q, want %q", back.Body, want)
	}
}

func FuzzReadMessage(f *testing.F) {
	for _, gm := range sampleMessages() {
		var buf bytes.Buffer
		_ = gm.EncodeTo(&buf, binary.LittleEndian)
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := readMessage(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		// Whatever parsed can be re-encoded, and parses back the same.
		again, err := readMessage(bufio.NewReader(bytes.NewReader(append(m.encodeHeader(m.serial), m.body...))))
		if err != nil {
			t.Fatalf("re-encoded message does not parse: %v", err)
		}
		if again.path != m.path || again.iface != m.iface || again.member != m.member || again.dest != m.dest ||
			again.sig != m.sig || again.errName != m.errName || !bytes.Equal(again.body, m.body) {
			t.Fatalf("round trip changed the message: %+v vs %+v", again, m)
		}
	})
}
