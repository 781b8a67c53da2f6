package incus

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestStateChangeNeverSendsTimeoutZero(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(c *Client) (*Op, error)
		want map[string]any
	}{
		{"start", func(c *Client) (*Op, error) { return c.StartInstance(context.Background(), "dev") },
			map[string]any{"action": "start", "timeout": -1.0, "force": false, "stateful": false}},
		{"stop, zero options: server default", func(c *Client) (*Op, error) {
			return c.StopInstance(context.Background(), "dev", StopOptions{})
		}, map[string]any{"action": "stop", "timeout": -1.0, "force": false, "stateful": false}},
		{"stop, 30 s", func(c *Client) (*Op, error) {
			return c.StopInstance(context.Background(), "dev", StopOptions{Timeout: 30 * time.Second})
		}, map[string]any{"action": "stop", "timeout": 30.0, "force": false, "stateful": false}},
		{"stop, 200 ms rounds up, not down to kill", func(c *Client) (*Op, error) {
			return c.StopInstance(context.Background(), "dev", StopOptions{Timeout: 200 * time.Millisecond})
		}, map[string]any{"action": "stop", "timeout": 1.0, "force": false, "stateful": false}},
		{"stop, negative: server default", func(c *Client) (*Op, error) {
			return c.StopInstance(context.Background(), "dev", StopOptions{Timeout: -time.Second})
		}, map[string]any{"action": "stop", "timeout": -1.0, "force": false, "stateful": false}},
		{"force stop", func(c *Client) (*Op, error) {
			return c.StopInstance(context.Background(), "dev", StopOptions{Force: true})
		}, map[string]any{"action": "stop", "timeout": -1.0, "force": true, "stateful": false}},
		{"restart, 1.5 s", func(c *Client) (*Op, error) {
			return c.RestartInstance(context.Background(), "dev", StopOptions{Timeout: 1500 * time.Millisecond})
		}, map[string]any{"action": "restart", "timeout": 2.0, "force": false, "stateful": false}},
		{"freeze", func(c *Client) (*Op, error) {
			return c.ChangeState(context.Background(), "dev", StateChange{Action: ActionFreeze})
		}, map[string]any{"action": "freeze", "timeout": -1.0, "force": false, "stateful": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.handle("PUT /1.0/instances/{name}/state", func(w http.ResponseWriter, r *http.Request) {
				asyncReply(w, Operation{ID: "state-1", Status: "Running", StatusCode: StatusRunning})
			})
			if _, err := tt.call(f.client()); err != nil {
				t.Fatal(err)
			}
			got := decodeJSON(t, f.last("PUT", "/1.0/instances/dev/state").Body)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("body %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStateChangeErrorNamesAction(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("PUT /1.0/instances/{name}/state", replay(t, "error-404-instance.json", 404))
	_, err := f.client().StartInstance(context.Background(), "nope")
	want := `start instance "nope": failed to fetch instance "nope" in project "default": Instance not found`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}
