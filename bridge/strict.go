package bridge

import (
	"fmt"
	"reflect"

	"github.com/godbus/dbus/v5"
)

// exportStrict exports the methods of v that the interface's XML declares,
// like conn.Export, except that a call whose arguments do not have the
// declared signature is refused with org.freedesktop.DBus.Error.InvalidArgs.
// godbus alone converts what reflection can convert: an int32 where a
// string goes arrives as the string of that code point (7 becomes "\a",
// 97 becomes "a"), so a mistyped call would act on some other name.
func exportStrict(conn *dbus.Conn, v any, path dbus.ObjectPath, iface, xmlText string) error {
	node, err := parseNode(xmlText)
	if err != nil {
		return err
	}
	rv := reflect.ValueOf(v)
	table := map[string]any{}
	for _, i := range node.Interfaces {
		if i.Name != iface {
			continue
		}
		for _, m := range i.Methods {
			var want string
			for _, a := range m.Args {
				if a.Direction == "in" {
					want += a.Type
				}
			}
			fn := rv.MethodByName(m.Name)
			if !fn.IsValid() {
				return fmt.Errorf("export %s: no Go method for %s", iface, m.Name)
			}
			table[m.Name] = checkSignature(iface+"."+m.Name, fn, want)
		}
	}
	if len(table) == 0 {
		return fmt.Errorf("export %s: the XML declares no methods", iface)
	}
	return conn.ExportMethodTable(table, path, iface)
}

var messageType = reflect.TypeOf(dbus.Message{})

// checkSignature wraps fn (whose last result is *dbus.Error) in a function
// that takes the message first, as godbus allows, and calls fn only when
// the message's signature is want.
func checkSignature(method string, fn reflect.Value, want string) any {
	ft := fn.Type()
	in := []reflect.Type{messageType}
	for i := range ft.NumIn() {
		in = append(in, ft.In(i))
	}
	out := make([]reflect.Type, ft.NumOut())
	for i := range out {
		out[i] = ft.Out(i)
	}
	wrapper := reflect.FuncOf(in, out, false)
	return reflect.MakeFunc(wrapper, func(args []reflect.Value) []reflect.Value {
		msg := args[0].Interface().(dbus.Message)
		var got string
		if v, ok := msg.Headers[dbus.FieldSignature]; ok {
			if s, ok := v.Value().(dbus.Signature); ok {
				got = s.String()
			}
		}
		if got == want {
			return fn.Call(args[1:])
		}
		res := make([]reflect.Value, len(out))
		for i, t := range out {
			res[i] = reflect.Zero(t)
		}
		res[len(res)-1] = reflect.ValueOf(&dbus.Error{
			Name: "org.freedesktop.DBus.Error.InvalidArgs",
			Body: []any{fmt.Sprintf("%s takes arguments of signature %q, not %q", method, want, got)},
		})
		return res
	}).Interface()
}
