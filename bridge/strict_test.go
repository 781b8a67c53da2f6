package bridge

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// TestManagerRefusesMistypedArguments: a call whose arguments do not have
// the signature of the XML is refused before it reaches the Manager, even
// where godbus could convert them (an int32 into the string of its code
// point).
func TestManagerRefusesMistypedArguments(t *testing.T) {
	t.Parallel()
	server, client := busPair(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ops, err := NewOperations(server, log, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	if _, err := ExportManager(ManagerConfig{Conn: server, Operations: ops, Version: "test", Log: log}); err != nil {
		t.Fatal(err)
	}
	obj := client.Object(server.Names()[0], ManagerPath)
	name := func(err error) string {
		var de dbus.Error
		if errors.As(err, &de) {
			return de.Name
		}
		return ""
	}
	for what, args := range map[string][]any{
		"int32 for the name":   {int32('a'), "", map[string]dbus.Variant{}},
		"variant for the name": {dbus.MakeVariant("a"), "", map[string]dbus.Variant{}},
		"uint64 for the image": {"a", uint64(1), map[string]dbus.Variant{}},
		"a{ss} for options":    {"a", "", map[string]string{}},
	} {
		err := obj.Call(ManagerInterface+".CreateContainer", 0, args...).Err
		if name(err) != "org.freedesktop.DBus.Error.InvalidArgs" || !strings.Contains(err.Error(), `"ssa{sv}"`) {
			t.Errorf("CreateContainer with %s: %v", what, err)
		}
	}
	if err := obj.Call(ManagerInterface+".GetContainerInfo", 0, int32('a')).Err; name(err) != "org.freedesktop.DBus.Error.InvalidArgs" {
		t.Errorf("GetContainerInfo(int32): %v", err)
	}
	// The right signature reaches the Manager, which judges the values.
	err = obj.Call(ManagerInterface+".CreateContainer", 0, "a.b", "", map[string]dbus.Variant{}).Err
	if name(err) != ErrorInvalidArgument || !strings.Contains(err.Error(), "container name") {
		t.Errorf("CreateContainer(\"a.b\"): %v", err)
	}
}
