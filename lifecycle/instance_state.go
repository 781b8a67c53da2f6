package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
)

// Start starts a container (a running one is left as it is).
func (m *Manager) Start(ctx context.Context, name string, r Reporter) error {
	inst, err := m.instance(ctx, name)
	if err != nil {
		return err
	}
	m.claimed(name)
	if inst.Running() {
		r.Message(MessageInfo, fmt.Sprintf("%s is already running", name))
		return nil
	}
	r.Started("start", "Starting "+name, -1)
	if err := m.startInstance(ctx, name); err != nil {
		r.Completed("start", false, "")
		return err
	}
	r.Completed("start", true, "Started "+name)
	return nil
}

func (m *Manager) startInstance(ctx context.Context, name string) error {
	err := m.startOnce(ctx, name)
	if err != nil && ctx.Err() == nil && strings.Contains(err.Error(), "forkstart") {
		// LXC's start hooks call back into incusd and give up after 30 s
		// when incusd is busy (seen with many containers being created
		// and deleted at once); Incus has cleaned up, so try once more.
		m.log.Warn("start failed; trying once more", "container", name, "error", err)
		err = m.startOnce(ctx, name)
	}
	if err != nil {
		return m.incusError(fmt.Sprintf("start %q", name), err)
	}
	m.forget(name)
	return nil
}

func (m *Manager) startOnce(ctx context.Context, name string) error {
	op, err := m.cfg.Incus.StartInstance(ctx, name)
	if err == nil {
		_, err = op.Wait(ctx, 0)
	}
	return err
}

// StopTimeout is how long a graceful stop may take before it fails.
const StopTimeout = 30 * time.Second

// Stop stops a container: gracefully, or at once with force.
func (m *Manager) Stop(ctx context.Context, name string, force bool, r Reporter) error {
	inst, err := m.instance(ctx, name)
	if err != nil {
		return err
	}
	m.claimed(name)
	if !inst.Running() {
		r.Message(MessageInfo, fmt.Sprintf("%s is not running", name))
		return nil
	}
	r.Started("stop", "Stopping "+name, -1)
	if err := m.stopInstance(ctx, name, force); err != nil {
		r.Completed("stop", false, "")
		return err
	}
	r.Completed("stop", true, "Stopped "+name)
	return nil
}

func (m *Manager) stopInstance(ctx context.Context, name string, force bool) error {
	op, err := m.cfg.Incus.StopInstance(ctx, name, incus.StopOptions{Force: force, Timeout: StopTimeout})
	if err == nil {
		_, err = op.Wait(ctx, 0)
	}
	if err != nil {
		if !force {
			return m.incusError(fmt.Sprintf("stop %q (it did not shut down within %s; use force to kill it)", name, StopTimeout), err)
		}
		return m.incusError(fmt.Sprintf("stop %q", name), err)
	}
	m.forget(name)
	return nil
}

// Delete removes a container and what is stored only inside it. Host
// paths mounted into it are never touched: Incus removes only the
// container's own storage volume. A running container needs force.
func (m *Manager) Delete(ctx context.Context, name string, force bool, r Reporter) error {
	inst, err := m.instance(ctx, name)
	if err != nil {
		return err
	}
	if inst.Running() {
		if !force {
			return fmt.Errorf("%w: stop %s first ('kap stop %s') or delete it with --force", ErrRunning, name, name)
		}
		r.Text("delete", "Stopping "+name)
		if err := m.stopInstance(ctx, name, true); err != nil {
			return err
		}
	}
	r.Started("delete", "Deleting "+name, -1)
	op, err := m.cfg.Incus.DeleteInstance(ctx, name)
	if err == nil {
		_, err = op.Wait(ctx, 0)
	}
	if err != nil {
		r.Completed("delete", false, "")
		// Incus makes a delete wait for one already under way (a kapsuled
		// killed while deleting), then fails it ("A matching non-reusable
		// operation has now succeeded"): the container is gone all the same.
		if errors.Is(err, incus.ErrNotFound) || m.gone(ctx, name) {
			return fmt.Errorf("%w: %s was deleted meanwhile", ErrNotFound, name)
		}
		return m.incusError(fmt.Sprintf("delete %q", name), err)
	}
	m.forget(name)
	r.Completed("delete", true, "Deleted "+name)
	m.log.Info("container deleted", "container", name)
	return nil
}

// gone reports whether Incus says the instance does not exist.
func (m *Manager) gone(ctx context.Context, name string) bool {
	m.forget(name)
	_, _, err := m.cfg.Incus.Instance(ctx, name)
	return errors.Is(err, incus.ErrNotFound)
}
