package incus

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"
)

// StateAction is a change of an instance's run state.
type StateAction string

// State actions.
const (
	ActionStart    StateAction = "start"
	ActionStop     StateAction = "stop"
	ActionRestart  StateAction = "restart"
	ActionFreeze   StateAction = "freeze"
	ActionUnfreeze StateAction = "unfreeze"
)

// StopOptions say how a stop or restart goes.
type StopOptions struct {
	// Force kills the instance at once instead of asking it to shut down.
	Force bool
	// Timeout bounds a graceful shutdown; when it passes the operation
	// fails and the instance keeps running. Zero (or less) means the
	// server's default (600 s on Incus 6.0). Incus reads a timeout of
	// 0 s as "kill at once"; this type never sends it (use Force).
	Timeout time.Duration
}

// StateChange is a request to change an instance's run state.
type StateChange struct {
	Action   StateAction
	Force    bool
	Timeout  time.Duration // see StopOptions.Timeout
	Stateful bool
}

// wireState is the JSON Incus reads. Timeout is always sent: -1 for the
// server default, else at least one second.
type wireState struct {
	Action   StateAction `json:"action"`
	Timeout  int         `json:"timeout"`
	Force    bool        `json:"force"`
	Stateful bool        `json:"stateful"`
}

func (s StateChange) wire() wireState {
	w := wireState{Action: s.Action, Timeout: -1, Force: s.Force, Stateful: s.Stateful}
	if s.Timeout > 0 {
		w.Timeout = max(1, int(math.Ceil(s.Timeout.Seconds())))
	}
	return w
}

// ChangeState starts a change of an instance's run state.
func (c *Client) ChangeState(ctx context.Context, name string, change StateChange) (*Op, error) {
	what := fmt.Sprintf("%s instance %q", change.Action, name)
	op, err := c.async(ctx, request{method: http.MethodPut, path: apiPath("instances", name, "state"), body: change.wire()}, what)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return op, nil
}

// StartInstance starts an instance.
func (c *Client) StartInstance(ctx context.Context, name string) (*Op, error) {
	return c.ChangeState(ctx, name, StateChange{Action: ActionStart})
}

// StopInstance stops an instance.
func (c *Client) StopInstance(ctx context.Context, name string, opts StopOptions) (*Op, error) {
	return c.ChangeState(ctx, name, StateChange{Action: ActionStop, Force: opts.Force, Timeout: opts.Timeout})
}

// RestartInstance restarts an instance.
func (c *Client) RestartInstance(ctx context.Context, name string, opts StopOptions) (*Op, error) {
	return c.ChangeState(ctx, name, StateChange{Action: ActionRestart, Force: opts.Force, Timeout: opts.Timeout})
}
