//go:build e2e

package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/testbed"
)

// manager connects a godbus client to kapsuled in a fresh session (the
// first call activates it).
func manager(t *testing.T) (*testbed.Bed, *testbed.Session, *dbus.Conn, dbus.BusObject) {
	t.Helper()
	bed := testbed.RequireUser(t)
	s := bed.NewSession(t, "[Containers]\nDefaultImage="+bed.Image+"\n")
	conn, err := dbus.Connect(s.Bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return bed, s, conn, conn.Object(bridge.ServiceName, bridge.ManagerPath)
}

func dbusErrorName(err error) string {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name
	}
	return ""
}

// waitOperation follows an operation like a late client: it reads Status,
// and waits for Completed only if it is still running.
func waitOperation(t *testing.T, conn *dbus.Conn, path dbus.ObjectPath) (string, string) {
	t.Helper()
	obj := conn.Object(bridge.ServiceName, path)
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		st, err := obj.GetProperty(bridge.OperationInterface + ".Status")
		if err != nil {
			t.Fatalf("operation %s: %v", path, err)
		}
		if s := st.Value().(string); s != bridge.StatusRunning {
			msg, _ := obj.GetProperty(bridge.OperationInterface + ".ErrorMessage")
			return s, msg.Value().(string)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("operation %s still running", path)
	return "", ""
}

func TestManagerAPIThroughGodbus(t *testing.T) {
	t.Parallel()
	bed, _, conn, mgr := manager(t)

	v, err := mgr.GetProperty(bridge.ManagerInterface + ".Version")
	if err != nil || v.Value().(string) != Version {
		t.Fatalf("Version = %v, %v (activation failed?)", v, err)
	}

	var schema string
	if err := mgr.Call(bridge.ManagerInterface+".GetCreateSchema", 0).Store(&schema); err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Version  int `json:"version"`
		Sections []struct {
			Options []struct {
				Key     string `json:"key"`
				Default any    `json:"default"`
			} `json:"options"`
		} `json:"sections"`
	}
	if err := json.Unmarshal([]byte(schema), &parsed); err != nil || parsed.Version != 1 || len(parsed.Sections) == 0 {
		t.Fatalf("schema %q: %v", schema, err)
	}
	if parsed.Sections[0].Options[0].Key != "image" || parsed.Sections[0].Options[0].Default != bed.Image {
		t.Errorf("first option %+v, want image defaulting to %s", parsed.Sections[0].Options[0], bed.Image)
	}

	// Bad input is refused at once, naming what is wrong.
	bad := []struct {
		name    string
		opts    map[string]dbus.Variant
		errName string
		text    string
	}{
		{"bad.name", nil, bridge.ErrorInvalidArgument, "container name"},
		{testbed.Name("x"), map[string]dbus.Variant{"gpus": dbus.MakeVariant(true)}, bridge.ErrorInvalidArgument, `unknown option "gpus"`},
		{testbed.Name("x"), map[string]dbus.Variant{"nesting": dbus.MakeVariant("yes")}, bridge.ErrorInvalidArgument, `"nesting" must be a boolean`},
		{testbed.Name("x"), map[string]dbus.Variant{"memory": dbus.MakeVariant(strings.Repeat("9", 1<<16))}, bridge.ErrorInvalidArgument, `option "memory"`},
	}
	for _, b := range bad {
		var p dbus.ObjectPath
		err := mgr.Call(bridge.ManagerInterface+".CreateContainer", 0, b.name, "", b.opts).Store(&p)
		if dbusErrorName(err) != b.errName || !strings.Contains(err.Error(), b.text) {
			t.Errorf("CreateContainer(%q, %v): %v, want %s containing %q", b.name, b.opts, err, b.errName, b.text)
		}
	}
	var info bridge.ContainerTuple
	err = mgr.Call(bridge.ManagerInterface+".GetContainerInfo", 0, "no-such-container").Store(&info)
	if dbusErrorName(err) != bridge.ErrorNotFound {
		t.Errorf("GetContainerInfo of a missing container: %v", err)
	}

	// Create: an operation object comes back at once; ContainersChanged
	// follows; a late subscriber learns the outcome from Status.
	if err := conn.AddMatchSignal(dbus.WithMatchInterface(bridge.ManagerInterface), dbus.WithMatchMember("ContainersChanged")); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 16)
	conn.Signal(sigs)
	name := testbed.Name("api")
	testbed.CleanupContainer(t, name)
	var op dbus.ObjectPath
	start := time.Now()
	if err := mgr.Call(bridge.ManagerInterface+".CreateContainer", 0, name, "", map[string]dbus.Variant{"gpu": dbus.MakeVariant(false)}).Store(&op); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("CreateContainer blocked for %v instead of returning an operation", d)
	}
	if !strings.HasPrefix(string(op), bridge.OperationsPath+"/") {
		t.Errorf("operation path %s", op)
	}
	if status, msg := waitOperation(t, conn, op); status != bridge.StatusCompleted {
		t.Fatalf("create: %s: %s", status, msg)
	}
	select {
	case <-sigs:
	case <-time.After(10 * time.Second):
		t.Error("no ContainersChanged after a create")
	}
	if v, err := conn.Object(bridge.ServiceName, op).GetProperty(bridge.OperationInterface + ".Type"); err != nil || v.Value().(string) != "create" {
		t.Errorf("operation Type = %v, %v", v, err)
	}

	var rows []bridge.ContainerTuple
	if err := mgr.Call(bridge.ManagerInterface+".ListContainers", 0).Store(&rows); err != nil {
		t.Fatal(err)
	}
	var row *bridge.ContainerTuple
	for i := range rows {
		if rows[i].Name == name {
			row = &rows[i]
		}
	}
	if row == nil || row.Status != "Running" || row.Mode != "Default" {
		t.Fatalf("ListContainers: %+v", rows)
	}
	if _, err := time.Parse(time.RFC3339Nano, row.Created); err != nil {
		t.Errorf("created %q is not ISO-8601: %v", row.Created, err)
	}
	var details map[string]dbus.Variant
	if err := mgr.Call(bridge.ManagerInterface+".GetContainerDetails", 0, name).Store(&details); err != nil {
		t.Fatal(err)
	}
	if details["networking"].Value() != "profile" && details["networking"].Value() != "host" {
		t.Errorf("details %v", details)
	}
	if opts, ok := details["options"].Value().(map[string]dbus.Variant); !ok || opts["gpu"].Value() != false {
		t.Errorf("recorded options %v", details["options"])
	}

	// The earlier daemon's PrepareEnter: an incus exec command line.
	var enter bridge.EnterResult
	if err := mgr.Call(bridge.ManagerInterface+".PrepareEnter", 0, name, []string{"id"}, bed.Home).Store(&enter); err != nil {
		t.Fatal(err)
	}
	if !enter.Success || enter.Args[0] != "incus" || enter.Args[len(enter.Args)-1] != "id" {
		t.Errorf("PrepareEnter = %+v", enter)
	}
	var failed bridge.EnterResult
	if err := mgr.Call(bridge.ManagerInterface+".PrepareEnter", 0, "missing-one", []string{}, "/").Store(&failed); err != nil || failed.Success || failed.Error == "" {
		t.Errorf("PrepareEnter of a missing container = %+v, %v", failed, err)
	}

	// Deleting a running container needs force.
	err = mgr.Call(bridge.ManagerInterface+".DeleteContainer", 0, name, false).Store(&op)
	if dbusErrorName(err) != bridge.ErrorRunning {
		t.Errorf("DeleteContainer without force: %v", err)
	}
	if err := mgr.Call(bridge.ManagerInterface+".StopContainer", 0, name, true).Store(&op); err != nil {
		t.Fatal(err)
	}
	if status, msg := waitOperation(t, conn, op); status != bridge.StatusCompleted {
		t.Fatalf("stop: %s: %s", status, msg)
	}
	if err := mgr.Call(bridge.ManagerInterface+".DeleteContainer", 0, name, false).Store(&op); err != nil {
		t.Fatal(err)
	}
	if status, msg := waitOperation(t, conn, op); status != bridge.StatusCompleted {
		t.Fatalf("delete: %s: %s", status, msg)
	}
	if _, err := testbed.IncusErr("info", name); err == nil {
		t.Error("container still exists after DeleteContainer")
	}
}

func TestIncusDownSaysWhatToDo(t *testing.T) {
	t.Parallel()
	bed := testbed.RequireUser(t)
	s := bed.NewSession(t, "")
	// A kapsuled pointed at a socket where no Incus listens.
	env := append(s.Env(), "INCUS_SOCKET=/nonexistent/unix.socket")
	out, code := runWithEnv(t, s.Bin+"/kapsuled", env)
	if code == 0 || !strings.Contains(out, "Incus is not running") {
		t.Errorf("kapsuled without Incus: exit %d, %q", code, out)
	}
}
