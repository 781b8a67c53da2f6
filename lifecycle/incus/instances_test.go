package incus

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// updateGolden rewrites golden files: KAPSULE_UPDATE_GOLDEN=1 go test ./...
var updateGolden = os.Getenv("KAPSULE_UPDATE_GOLDEN") != ""

// golden compares a request body with testdata/golden/<name>.json.
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (refresh with KAPSULE_UPDATE_GOLDEN=1)", err)
	}
	if string(want) != string(b) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, b, want)
	}
}

func TestCreateInstanceRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  InstancesPost
	}{
		{"create-local-alias", InstancesPost{
			Name: "dev", Source: LocalImage("kapsule/debian"),
			Config: map[string]string{"user.kapsule.managed": "true"},
		}},
		{"create-simplestreams", InstancesPost{
			Name: "dev", Type: "container", Start: true,
			Source: SimplestreamsImage("https://images.linuxcontainers.org", "debian/12"),
			Config: map[string]string{"user.kapsule.managed": "true", "security.nesting": "true"},
			Devices: map[string]map[string]string{
				"home": {"type": "disk", "source": "/home/alice", "path": "/home/alice", "shift": "true"},
			},
		}},
		{"create-no-profiles", InstancesPost{
			Name: "bare", Source: LocalImage("kapsule/debian"), Profiles: []string{},
			Devices: map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "default"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.handle("POST /1.0/instances", replay(t, "create-async.json", http.StatusAccepted))
			if _, err := f.client().CreateInstance(context.Background(), tt.req); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, f.last("POST", "/1.0/instances").Body)
		})
	}
}

// TestCreateFromSimplestreams replays what Incus 6.0.4 answered without a
// route to the image server: the failure comes with the wait.
func TestCreateFromSimplestreams(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("POST /1.0/instances", replay(t, "create-simplestreams-async.json", http.StatusAccepted))
	f.handle("GET /1.0/operations/{id}/wait", replay(t, "create-simplestreams-wait-6.0.json", 200))
	f.handle("GET /1.0/operations/{id}", replay(t, "error-404-operation.json", 404))
	op, err := f.client().CreateInstance(context.Background(), InstancesPost{
		Name: "kt-record-ss", Source: SimplestreamsImage("https://images.linuxcontainers.org", "debian/12"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if op.Resources["instances"][0] != "/1.0/instances/kt-record-ss" {
		t.Errorf("resources %v", op.Resources)
	}
	_, err = op.Wait(context.Background(), 0)
	want := `create instance "kt-record-ss": failed getting remote image info: Failed getting image: Failed parsing stream: Get "https://images.linuxcontainers.org/streams/v1/index.json": lookup images.linuxcontainers.org on 10.255.255.53:53: no such host`
	if err == nil || err.Error() != want {
		t.Errorf("Wait: %v\nwant %s", err, want)
	}
}

func TestInstancesList(t *testing.T) {
	t.Parallel()
	var list []map[string]any
	var env struct{ Metadata json.RawMessage }
	if err := json.Unmarshal(recorded(t, "instances-recursion-2.json"), &env); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(env.Metadata, &list); err != nil {
		t.Fatal(err)
	}
	other := map[string]any{"name": "not-ours", "status": "Stopped", "status_code": 102, "config": map[string]any{"image.os": "Debian"}}
	tests := []struct {
		name       string
		q          InstanceQuery
		recursion  string
		filter     string
		wantNames  []string
		wantAllPrj bool
	}{
		{"all", InstanceQuery{}, "1", "", []string{"kt-record-0001", "not-ours"}, false},
		{"with state", InstanceQuery{WithState: true}, "2", "", []string{"kt-record-0001", "not-ours"}, false},
		{"config equality goes to the server", InstanceQuery{Config: map[string]string{"user.kapsule.managed": "true"}},
			"1", "config.user.kapsule.managed eq true", []string{"kt-record-0001"}, false},
		{"values with spaces are checked here only", InstanceQuery{Config: map[string]string{"image.description": "Kapsule test image (Debian 12, PackageKit, fixture ee973f751030d124)", "image.os": "Debian"}},
			"1", "config.image.os eq Debian", []string{"kt-record-0001"}, false},
		{"prefix", InstanceQuery{ConfigPrefix: "user.kapsule.", AllProjects: true}, "1", "", []string{"kt-record-0001"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			// The fake ignores the filter: the client must filter too.
			f.handle("GET /1.0/instances", syncHandler(append(append([]map[string]any{}, list...), other)))
			got, err := f.client().Instances(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, i := range got {
				names = append(names, i.Name)
			}
			if !reflect.DeepEqual(names, tt.wantNames) {
				t.Errorf("names %v, want %v", names, tt.wantNames)
			}
			r := f.last("GET", "/1.0/instances")
			if r.Query["recursion"][0] != tt.recursion {
				t.Errorf("recursion %v, want %s", r.Query["recursion"], tt.recursion)
			}
			if got := r.Query.Get("filter"); got != tt.filter {
				t.Errorf("filter %q, want %q", got, tt.filter)
			}
			if got := r.Query.Get("all-projects") == "true"; got != tt.wantAllPrj {
				t.Errorf("all-projects %v", got)
			}
		})
	}
}

func TestInstancesListWithState(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("GET /1.0/instances", replay(t, "instances-recursion-2.json", 200))
	got, err := f.client().Instances(context.Background(), InstanceQuery{WithState: true})
	if err != nil || len(got) != 1 {
		t.Fatalf("Instances: %v %v", got, err)
	}
	i := got[0]
	if !i.Running() || i.State == nil || i.State.PID != 3058 || i.State.Network["eth0"].Addresses[0].Address != "192.0.2.2" {
		t.Errorf("instance %+v state %+v", i, i.State)
	}
	if i.Config["user.kapsule.managed"] != "true" || i.ExpandedDevices["root"]["pool"] != "default" || i.Profiles[0] != "default" {
		t.Errorf("config %v devices %v", i.Config, i.ExpandedDevices)
	}
	if want := time.Date(2026, 11, 25, 20, 57, 40, 583994892, time.UTC); !i.State.StartedAt.Equal(want) {
		t.Errorf("started %v", i.State.StartedAt)
	}
}

func TestGetAndUpdateInstance(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	const etag = `"7cf340944992b8448d50a49c5a3b7b00fdf4df611a3aa657644af1a74de7ee62"`
	f.handle("GET /1.0/instances/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		replay(t, "instance.json", 200)(w, r)
	})
	f.handle("PUT /1.0/instances/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-Match") != etag {
			replay(t, "error-412-etag.json", 412)(w, r)
			return
		}
		asyncReply(w, Operation{ID: "put-1", Status: "Running", StatusCode: StatusRunning})
	})
	f.handle("PATCH /1.0/instances/{name}", replay(t, "sync-empty.json", 200))
	c := f.client()
	ctx := context.Background()
	inst, gotTag, err := c.Instance(ctx, "kt-record-0001")
	if err != nil {
		t.Fatal(err)
	}
	if gotTag != etag || inst.Name != "kt-record-0001" || inst.Status != "Running" {
		t.Fatalf("Instance: %q %+v", gotTag, inst)
	}
	put := inst.InstancePut
	put.Config["user.kapsule.x"] = "2"
	if _, err := c.UpdateInstance(ctx, inst.Name, put, `"bogus"`); !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("UpdateInstance with a stale ETag: %v", err)
	}
	if op, err := c.UpdateInstance(ctx, inst.Name, put, gotTag); err != nil || op.ID != "put-1" {
		t.Errorf("UpdateInstance: %v %v", op, err)
	}
	body := decodeJSON(t, f.last("PUT", "/1.0/instances/kt-record-0001").Body)
	if body["config"].(map[string]any)["user.kapsule.x"] != "2" || body["profiles"] == nil || body["devices"] == nil {
		t.Errorf("PUT body %v", body)
	}
	if _, ok := body["name"]; ok {
		t.Errorf("PUT body carries read-only fields: %v", body)
	}

	desc := "box"
	if err := c.PatchInstance(ctx, inst.Name, InstancePatch{Config: map[string]string{"user.kapsule.x": "3"}, Description: &desc}); err != nil {
		t.Fatal(err)
	}
	patch := decodeJSON(t, f.last("PATCH", "/1.0/instances/kt-record-0001").Body)
	if !reflect.DeepEqual(patch, map[string]any{"config": map[string]any{"user.kapsule.x": "3"}, "description": "box"}) {
		t.Errorf("PATCH body %v: only the given fields may be sent", patch)
	}
}

func TestDeleteInstance(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("DELETE /1.0/instances/{name}", replay(t, "error-400-running.json", 400))
	_, err := f.client().DeleteInstance(context.Background(), "dev")
	if want := `delete instance "dev": instance is running`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}
