package incus

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// serveEvents answers GET /1.0/events with the recorded lifecycle events,
// then holds the connection until hold is closed, then drops it.
func serveEvents(t *testing.T, f *fakeIncus, hold <-chan struct{}) {
	lines := bytes.Split(bytes.TrimSpace(recorded(t, "events-lifecycle.jsonl")), []byte("\n"))
	f.handle("GET /1.0/events", func(w http.ResponseWriter, r *http.Request) {
		conn, err := fakeUpgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		go func() { // read, so that the client's close frame or EOF is seen
			for {
				if _, _, err := conn.NextReader(); err != nil {
					return
				}
			}
		}()
		conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"logging","metadata":{"message":"hello"}}`))
		conn.WriteMessage(websocket.TextMessage, []byte(`not json`))
		for _, l := range lines {
			if err := conn.WriteMessage(websocket.TextMessage, l); err != nil {
				return
			}
		}
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	})
}

func TestEventsTyped(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	hold := make(chan struct{})
	serveEvents(t, f, hold)
	l, err := f.client().Events(context.Background(), EventLifecycle, EventOperation)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 6 {
		ev := within(t, 2*time.Second, l.C(), "event")
		switch {
		case ev.Type == EventLogging:
			got = append(got, "logging")
		case ev.Lifecycle != nil:
			lc := ev.Lifecycle
			got = append(got, lc.Action+" "+lc.Name+" "+lc.Project)
			if lc.Source != "/1.0/instances/kt-record-0001" || lc.Requestor == nil || lc.Requestor.Username != "root" {
				t.Errorf("lifecycle event %+v", lc)
			}
			if ev.Timestamp.IsZero() {
				t.Error("no timestamp")
			}
		}
	}
	want := []string{
		"logging",
		"instance-shutdown kt-record-0001 default",
		"instance-started kt-record-0001 default",
		"instance-restarted kt-record-0001 default",
		"instance-stopped kt-record-0001 default",
		"instance-deleted kt-record-0001 default",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
	if q := f.last("GET", "/1.0/events").Query["type"]; len(q) != 1 || q[0] != "lifecycle,operation" {
		t.Errorf("type=%v", q)
	}
	close(hold)
	for range l.C() {
	}
	if err := l.Err(); !errors.Is(err, ErrDisconnected) {
		t.Errorf("Err() = %v after the server dropped the stream, want ErrDisconnected", err)
	}
}

func TestEventsEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		stop    func(cancel context.CancelFunc, l *EventListener)
		wantErr error
	}{
		{"context cancelled", func(cancel context.CancelFunc, _ *EventListener) { cancel() }, context.Canceled},
		{"closed", func(_ context.CancelFunc, l *EventListener) { l.Close() }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			hold := make(chan struct{})
			defer close(hold)
			serveEvents(t, f, hold)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			l, err := f.client().Events(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Nobody reads: the reader is blocked delivering; it must still end.
			time.Sleep(20 * time.Millisecond)
			tt.stop(cancel, l)
			ended := make(chan struct{})
			go func() {
				for range l.C() {
				}
				close(ended)
			}()
			within(t, time.Second, ended, "listener end")
			if err := l.Err(); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Err() = %v, want %v", err, tt.wantErr)
			}
			l.Close() // idempotent
		})
	}
}

func TestEventsDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		want LifecycleEvent
	}{
		{"name and project from the server", `{"type":"lifecycle","project":"p","metadata":{"action":"instance-renamed","source":"/1.0/instances/new?project=p","name":"new","project":"p","context":{"old_name":"old"}}}`,
			LifecycleEvent{Action: InstanceRenamed, Source: "/1.0/instances/new?project=p", Name: "new", Project: "p", Context: map[string]any{"old_name": "old"}}},
		{"older servers: from source", `{"type":"lifecycle","project":"user-1000","metadata":{"action":"instance-started","source":"/1.0/instances/my%20box?project=user-1000"}}`,
			LifecycleEvent{Action: InstanceStarted, Source: "/1.0/instances/my%20box?project=user-1000", Name: "my box", Project: "user-1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := decodeEvent([]byte(tt.line))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Lifecycle == nil || !reflect.DeepEqual(*ev.Lifecycle, tt.want) {
				t.Errorf("got %+v\nwant %+v", ev.Lifecycle, tt.want)
			}
		})
	}
	t.Run("operation", func(t *testing.T) {
		t.Parallel()
		ev, err := decodeEvent([]byte(`{"type":"operation","metadata":{"id":"x","status":"Running","status_code":103,"metadata":{"progress":{"percent":"5","stage":"download"}}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Operation == nil || ev.Operation.ID != "x" || ev.Operation.StatusCode != StatusRunning {
			t.Fatalf("operation %+v", ev.Operation)
		}
		if p, ok := ev.Operation.Progress(); !ok || p.Percent != 5 {
			t.Errorf("progress %+v", p)
		}
	})
}

// A stream that goes silent is pinged; one that does not answer either is
// lost (incusd gone behind incus-user, which keeps the connection open).
// Not parallel: it shortens the package's keepalive times.
func TestEventsSilentStreamIsPingedThenLost(t *testing.T) {
	oldQuiet, oldWait := eventsQuiet, eventsPongWait
	eventsQuiet, eventsPongWait = 150*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { eventsQuiet, eventsPongWait = oldQuiet, oldWait })

	f := newFake(t)
	answer := make(chan bool, 1)
	pings := make(chan struct{}, 100)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	f.handle("GET /1.0/events", func(w http.ResponseWriter, r *http.Request) {
		conn, err := fakeUpgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetPingHandler(func(data string) error {
			pings <- struct{}{}
			return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		if <-answer { // read: pings are answered
			go func() {
				for {
					if _, _, err := conn.NextReader(); err != nil {
						return
					}
				}
			}()
		}
		select { // silent either way
		case <-done:
		case <-r.Context().Done():
		}
	})

	// A quiet server that answers pings keeps the stream.
	answer <- true
	l, err := f.client().Events(context.Background(), EventLifecycle)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-l.C():
		t.Fatalf("the stream of a quiet server that answers pings ended (%v, %v)", ok, l.Err())
	case <-time.After(4 * (eventsQuiet + eventsPongWait)):
	}
	if len(pings) < 2 {
		t.Errorf("%d pings in %v of silence, want one every %v", len(pings), 4*(eventsQuiet+eventsPongWait), eventsQuiet)
	}
	l.Close()

	// A server that answers nothing: the stream is lost.
	answer <- false
	l, err = f.client().Events(context.Background(), EventLifecycle)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case _, ok := <-l.C():
		if ok {
			t.Fatal("an event from a silent server")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream of a server that answers nothing still open after 5 s")
	}
	if err := l.Err(); !errors.Is(err, ErrDisconnected) || !strings.Contains(err.Error(), "no answer from Incus") {
		t.Errorf("ended with %v, want ErrDisconnected saying Incus does not answer", err)
	}
	if d := time.Since(start); d < eventsQuiet+eventsPongWait {
		t.Errorf("lost after %v, before the keepalive window of %v", d, eventsQuiet+eventsPongWait)
	}
}
