package incus

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

const createOpPath = "/1.0/operations/99629553-2bde-4d29-9f2e-b71d87b80be1"

// startCreate creates an instance on f and returns its operation.
func startCreate(t *testing.T, f *fakeIncus) *Op {
	t.Helper()
	f.handle("POST /1.0/instances", replay(t, "create-async.json", http.StatusAccepted))
	op, err := f.client().CreateInstance(context.Background(), InstancesPost{Name: "kt-record-0001", Source: LocalImage("kapsule-test/debian-12")})
	if err != nil {
		t.Fatal(err)
	}
	if op.ID != "99629553-2bde-4d29-9f2e-b71d87b80be1" || op.Class != "task" || op.StatusCode != StatusRunning {
		t.Fatalf("operation %+v", op.Operation)
	}
	return op
}

// runningOp is the recorded creation operation while still running, with
// progress.
func runningOp(t *testing.T, percent string) map[string]any {
	var env map[string]any
	if err := json.Unmarshal(recorded(t, "create-async.json"), &env); err != nil {
		t.Fatal(err)
	}
	op := env["metadata"].(map[string]any)
	op["metadata"] = map[string]any{
		"create_instance_from_image_unpack_progress": "Unpacking image: " + percent + "% (698.34MB/s)",
		"progress": map[string]any{"percent": percent, "speed": "698340874", "stage": "create_instance_from_image_unpack"},
	}
	return op
}

func TestWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		wait     func(t *testing.T) http.HandlerFunc // GET .../wait
		get      func(t *testing.T) http.HandlerFunc // GET the operation
		timeout  time.Duration
		wantErr  error  // sentinel, or nil for success
		wantMsg  string // error message
		wantCode int    // *Error status, when an *Error
		status   StatusCode
	}{
		{
			name:   "success",
			wait:   func(t *testing.T) http.HandlerFunc { return replay(t, "create-wait-success.json", 200) },
			status: StatusSuccess,
		},
		{
			name:    "6.0 timeout is an error envelope with status 200",
			wait:    func(t *testing.T) http.HandlerFunc { return replay(t, "wait-timeout-6.0.json", 200) },
			get:     func(t *testing.T) http.HandlerFunc { return syncHandler(runningOp(t, "42")) },
			timeout: 1500 * time.Millisecond,
			wantErr: ErrTimeout,
			wantMsg: `create instance "kt-record-0001": operation still running after the wait timeout (2 s)`,
			status:  StatusRunning,
		},
		{
			name:    "newer timeout is the running operation",
			wait:    func(t *testing.T) http.HandlerFunc { return syncHandler(runningOp(t, "42")) },
			timeout: time.Second,
			wantErr: ErrTimeout,
			status:  StatusRunning,
		},
		{
			name:     "6.0 failure is an error envelope too",
			wait:     func(t *testing.T) http.HandlerFunc { return replay(t, "wait-failed-6.0.json", 200) },
			get:      func(t *testing.T) http.HandlerFunc { return replay(t, "operation-failed.json", 200) },
			wantMsg:  `create instance "kt-record-0001": failed creating instance record: Add instance info to the database: Failed to create "instances" entry: UNIQUE constraint failed: instances.project_id, instances.name`,
			wantCode: 500,
			status:   StatusFailure,
		},
		{
			name:     "failure of an operation already gone",
			wait:     func(t *testing.T) http.HandlerFunc { return replay(t, "create-simplestreams-wait-6.0.json", 200) },
			get:      func(t *testing.T) http.HandlerFunc { return replay(t, "error-404-operation.json", 404) },
			wantMsg:  `create instance "kt-record-0001": failed getting remote image info: Failed getting image: Failed parsing stream: Get "https://images.linuxcontainers.org/streams/v1/index.json": lookup images.linuxcontainers.org on 10.255.255.53:53: no such host`,
			wantCode: 500,
		},
		{
			name:    "timeout of an operation already gone",
			wait:    func(t *testing.T) http.HandlerFunc { return replay(t, "wait-timeout-6.0.json", 200) },
			get:     func(t *testing.T) http.HandlerFunc { return replay(t, "error-404-operation.json", 404) },
			timeout: time.Second,
			wantErr: ErrTimeout,
		},
		{
			name: "cancelled",
			wait: func(t *testing.T) http.HandlerFunc {
				op := runningOp(t, "42")
				op["status"], op["status_code"] = "Cancelled", 401
				return syncHandler(op)
			},
			wantErr: ErrCanceled,
			status:  StatusCancelled,
		},
		{
			name:     "unknown operation",
			wait:     func(t *testing.T) http.HandlerFunc { return replay(t, "error-404-operation.json", 404) },
			wantErr:  ErrNotFound,
			wantCode: 404,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.handle("GET "+createOpPath+"/wait", tt.wait(t))
			if tt.get != nil {
				f.handle("GET "+createOpPath, tt.get(t))
			}
			op := startCreate(t, f)
			got, err := op.Wait(context.Background(), tt.timeout)
			if got.StatusCode != tt.status {
				t.Errorf("status %d, want %d", got.StatusCode, tt.status)
			}
			if tt.wantErr == nil && tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("Wait: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantCode != 0 {
				if e := errorsAsError(t, err); e.StatusCode != tt.wantCode {
					t.Errorf("status code %d, want %d", e.StatusCode, tt.wantCode)
				}
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("message\n got %s\nwant %s", err, tt.wantMsg)
			}
			wantQuery := map[time.Duration]string{0: "-1", time.Second: "1", 1500 * time.Millisecond: "2"}[tt.timeout]
			if q := f.last("GET", createOpPath+"/wait").Query["timeout"]; len(q) != 1 || q[0] != wantQuery {
				t.Errorf("wait?timeout=%v, want %s", q, wantQuery)
			}
		})
	}
}

func syncHandler(metadata any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { syncReply(w, metadata) }
}

func TestWaitProgress(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	var polls atomic.Int32
	// 6.0: each one-second wait times out with an error envelope; the
	// operation then shows the progress; the third wait sees it end.
	f.handle("GET "+createOpPath+"/wait", func(w http.ResponseWriter, r *http.Request) {
		if polls.Add(1) < 4 {
			replay(t, "wait-timeout-6.0.json", 200)(w, r)
			return
		}
		replay(t, "create-wait-success.json", 200)(w, r)
	})
	percents := []string{"10", "10", "60"}
	var gets atomic.Int32
	f.handle("GET "+createOpPath, func(w http.ResponseWriter, r *http.Request) {
		i := int(gets.Add(1)) - 1
		syncReply(w, runningOp(t, percents[min(i, len(percents)-1)]))
	})
	op := startCreate(t, f)
	var got []Progress
	final, err := op.WaitProgress(context.Background(), func(p Progress) { got = append(got, p) })
	if err != nil {
		t.Fatal(err)
	}
	want := []Progress{
		{Stage: "create_instance_from_image_unpack", Percent: 10, Speed: 698340874, Text: "Unpacking image: 10% (698.34MB/s)"},
		{Stage: "create_instance_from_image_unpack", Percent: 60, Speed: 698340874, Text: "Unpacking image: 60% (698.34MB/s)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("progress\n got %+v\nwant %+v", got, want)
	}
	if p, ok := final.Progress(); !ok || p.Percent != 100 || p.Text != "Unpacking image: 100% (698.34MB/s)" {
		t.Errorf("final progress %+v %v", p, ok)
	}
	for _, r := range f.seen("GET", createOpPath+"/wait") {
		if r.Query["timeout"][0] != "1" {
			t.Errorf("progress wait with timeout %v, want 1", r.Query["timeout"])
		}
	}
}

func TestProgressShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		metadata string
		want     Progress
		ok       bool
	}{
		{"none", `null`, Progress{Percent: -1}, false},
		{"exec", `{"return": 0, "fds": {}}`, Progress{Percent: -1}, false},
		{"download, structured", `{"download_progress":"rootfs: 42% (12.30MB/s)","progress":{"percent":"42","processed":"1234","speed":"12300000","stage":"download"}}`,
			Progress{Stage: "download", Percent: 42, Processed: 1234, Speed: 12300000, Text: "rootfs: 42% (12.30MB/s)"}, true},
		{"text only (older servers)", `{"download_progress":"metadata: 100% (1.2MB/s)"}`,
			Progress{Stage: "download", Percent: -1, Text: "metadata: 100% (1.2MB/s)"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var op Operation
			if err := json.Unmarshal([]byte(`{"metadata":`+tt.metadata+`}`), &op); err != nil {
				t.Fatal(err)
			}
			got, ok := op.Progress()
			if got != tt.want || ok != tt.ok {
				t.Errorf("Progress() = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		reply   http.HandlerFunc
		wantErr string
	}{
		{"cancellable", func(w http.ResponseWriter, r *http.Request) { syncReply(w, map[string]any{}) }, ""},
		{"not cancellable", nil, `create instance "kt-record-0001": cancel: this operation can't be cancelled`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			h := tt.reply
			if h == nil {
				h = replay(t, "error-400-cancel.json", 400)
			}
			f.handle("DELETE "+createOpPath, h)
			err := startCreate(t, f).Cancel(context.Background())
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("Cancel: %v, want %q", err, tt.wantErr)
			}
			f.last("DELETE", createOpPath)
		})
	}
}

func TestWaitHonoursContext(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("GET "+createOpPath+"/wait", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	op := startCreate(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := op.Wait(ctx, 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Wait returned after %v", d)
	}
}

func TestRecordedFilesAreValidJSON(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "recorded", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded files: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var env envelope
		if err := json.Unmarshal(data, &env); err != nil || env.Type == "" {
			t.Errorf("%s: not an Incus envelope: %v", name, err)
		}
	}
}
