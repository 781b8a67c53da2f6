package bridge

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	interfaces "invent.kde.org/kapsule/kapsule/dbus-interfaces"
	"invent.kde.org/kapsule/kapsule/lifecycle"
	"invent.kde.org/kapsule/kapsule/testbed"
)

func xmlSignals(t *testing.T, xmlText, iface string) map[string]string {
	t.Helper()
	_, i := xmlMethods(t, xmlText, iface)
	out := map[string]string{}
	for _, s := range i.Signals {
		var b strings.Builder
		for _, a := range s.Args {
			b.WriteString(a.Type)
		}
		out[s.Name] = b.String()
	}
	return out
}

func busPair(t *testing.T) (server, client *dbus.Conn) {
	t.Helper()
	bus := testbed.StartBus(t, false)
	var err error
	if server, err = dbus.Connect(bus.Address); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	if client, err = dbus.Connect(bus.Address); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return server, client
}

// TestEmittedSignalsMatchTheXML emits every signal the way the service
// does and checks what arrives on the bus against the interface XML.
func TestEmittedSignalsMatchTheXML(t *testing.T) {
	t.Parallel()
	server, client := busPair(t)
	sigs := make(chan *dbus.Signal, 64)
	client.Signal(sigs)
	if err := client.AddMatchSignal(dbus.WithMatchSender(server.Names()[0])); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ops, err := NewOperations(server, log, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	m, err := ExportManager(ManagerConfig{Conn: server, Operations: ops, Version: "test", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	Signals(m).ContainersChanged()
	Signals(m).UpdateSourcesChanged()
	Signals(m).UpdatesChanged("dev", 3, 1)
	release := make(chan struct{})
	path, err := ops.Start("create", "d", "dev", func(ctx context.Context, r lifecycle.Reporter) error {
		r.Message(lifecycle.MessageWarning, "w")
		r.Started("p", "d", -1)
		r.Update("p", 1, 2.5)
		r.Text("p", "t")
		r.Completed("p", true, "")
		<-release
		return errors.New("boom")
	})
	if err != nil {
		t.Fatal(err)
	}
	close(release)

	want := map[string]map[string]string{
		ManagerInterface:   xmlSignals(t, interfaces.Manager, ManagerInterface),
		OperationInterface: xmlSignals(t, interfaces.Operation, OperationInterface),
	}
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < 9 {
		select {
		case s := <-sigs:
			i := strings.LastIndex(s.Name, ".")
			iface, member := s.Name[:i], s.Name[i+1:]
			if iface == "org.freedesktop.DBus" || iface == "org.freedesktop.DBus.Properties" {
				continue
			}
			sig, ok := want[iface][member]
			if !ok {
				t.Errorf("emitted %s, which the XML does not declare", s.Name)
				continue
			}
			if got := dbus.SignatureOf(s.Body...).String(); got != sig {
				t.Errorf("%s has signature %q, XML says %q", s.Name, got, sig)
			}
			if iface == OperationInterface && s.Path != path {
				t.Errorf("%s on %s, want %s", s.Name, s.Path, path)
			}
			seen[s.Name] = true
		case <-deadline:
			t.Fatalf("only saw %v", seen)
		}
	}
}

// TestExportedPropertiesMatchTheXML reads the properties of the exported
// Manager and of an operation with GetAll and compares names and types
// with the XML.
func TestExportedPropertiesMatchTheXML(t *testing.T) {
	t.Parallel()
	server, client := busPair(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ops, err := NewOperations(server, log, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	if _, err := ExportManager(ManagerConfig{Conn: server, Operations: ops, Version: "1.2.3", Log: log}); err != nil {
		t.Fatal(err)
	}
	path, err := ops.Start("start", "d", "dev", func(ctx context.Context, r lifecycle.Reporter) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  dbus.ObjectPath
		iface string
		xml   string
	}{
		{ManagerPath, ManagerInterface, interfaces.Manager},
		{path, OperationInterface, interfaces.Operation},
	} {
		var got map[string]dbus.Variant
		err := client.Object(server.Names()[0], tc.path).Call("org.freedesktop.DBus.Properties.GetAll", 0, tc.iface).Store(&got)
		if err != nil {
			t.Fatalf("GetAll %s: %v", tc.iface, err)
		}
		_, iface := xmlMethods(t, tc.xml, tc.iface)
		want := map[string]string{}
		for _, p := range iface.Properties {
			want[p.Name] = p.Type
		}
		gotTypes := map[string]string{}
		for k, v := range got {
			gotTypes[k] = v.Signature().String()
		}
		if !reflect.DeepEqual(gotTypes, want) {
			t.Errorf("%s properties: exported %v, XML %v", tc.iface, gotTypes, want)
		}
	}
}
