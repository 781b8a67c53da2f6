package bridge

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"

	interfaces "invent.kde.org/kapsule/kapsule/dbus-interfaces"
)

// exportedMethods lists the D-Bus methods godbus exports for v: every
// exported method whose last result is *dbus.Error, with its in and out
// signatures (a leading dbus.Sender argument is not on the wire).
func exportedMethods(t *testing.T, v any) map[string][2]string {
	t.Helper()
	out := map[string][2]string{}
	typ := reflect.TypeOf(v)
	errType := reflect.TypeOf((*dbus.Error)(nil))
	senderType := reflect.TypeOf(dbus.Sender(""))
	for i := 0; i < typ.NumMethod(); i++ {
		m := typ.Method(i)
		ft := m.Type
		if ft.NumOut() == 0 || ft.Out(ft.NumOut()-1) != errType {
			continue
		}
		var in, outSig strings.Builder
		for j := 1; j < ft.NumIn(); j++ { // 0 is the receiver
			if ft.In(j) == senderType {
				continue
			}
			in.WriteString(dbus.SignatureOfType(ft.In(j)).String())
		}
		for j := 0; j < ft.NumOut()-1; j++ {
			outSig.WriteString(dbus.SignatureOfType(ft.Out(j)).String())
		}
		out[m.Name] = [2]string{in.String(), outSig.String()}
	}
	return out
}

func xmlMethods(t *testing.T, xmlText, iface string) (map[string][2]string, introspect.Interface) {
	t.Helper()
	node, err := parseNode(xmlText)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range node.Interfaces {
		if i.Name != iface {
			continue
		}
		out := map[string][2]string{}
		for _, m := range i.Methods {
			var in, o strings.Builder
			for _, a := range m.Args {
				if a.Direction == "out" {
					o.WriteString(a.Type)
				} else {
					in.WriteString(a.Type)
				}
			}
			out[m.Name] = [2]string{in.String(), o.String()}
		}
		return out, i
	}
	t.Fatalf("interface %s not in XML", iface)
	return nil, introspect.Interface{}
}

func compare(t *testing.T, what string, got, want map[string][2]string) {
	t.Helper()
	var names []string
	for n := range want {
		names = append(names, n)
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		g, inGo := got[n]
		w, inXML := want[n]
		switch {
		case !inGo:
			t.Errorf("%s: %s is in the XML but not exported", what, n)
		case !inXML:
			t.Errorf("%s: %s is exported but not in the XML", what, n)
		case g != w:
			t.Errorf("%s: %s exported as (%s) -> (%s), XML says (%s) -> (%s)", what, n, g[0], g[1], w[0], w[1])
		}
	}
}

func TestManagerExportsExactlyTheXML(t *testing.T) {
	t.Parallel()
	want, iface := xmlMethods(t, interfaces.Manager, ManagerInterface)
	compare(t, "Manager", exportedMethods(t, &Manager{}), want)
	_ = iface
}

func TestOperationExportsExactlyTheXML(t *testing.T) {
	t.Parallel()
	want, iface := xmlMethods(t, interfaces.Operation, OperationInterface)
	compare(t, "Operation", exportedMethods(t, &operation{}), want)
	_ = iface // properties are checked on the bus: TestExportedPropertiesMatchTheXML
}
