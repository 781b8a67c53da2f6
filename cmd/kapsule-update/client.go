package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/cmd/internal/cli"
	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
)

func (a *app) clientCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "client NAME -- COMMAND [ARGS...]",
		Short: "Run a stock PackageKit client (pkcon, Discover) against a container",
		Long: `Run an unmodified PackageKit client against one container: on a private bus
the container's PackageKit is org.freedesktop.PackageKit, and the command
runs with DBUS_SYSTEM_BUS_ADDRESS pointing at it (that command only). Only
use programs whose whole system-bus traffic may go there (pkcon, scripts).
The private bus is removed afterwards; the command's exit status is
returned (128+N when a signal N killed it). Ctrl-C reaches the command
from the terminal (pkcon then cancels its transaction); SIGTERM and SIGHUP
sent to kapsule-update are passed on to it.`,
		Example: `  kapsule-update client dev -- pkcon get-updates
  kapsule-update client dev -- pkcon -y update`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash != 1 || len(args) < 2 {
				return cli.Usagef("usage: kapsule-update client NAME -- COMMAND [ARGS...]")
			}
			return a.client(cmd.Context(), args[0], args[1:])
		},
	}
}

func (a *app) client(ctx context.Context, name string, command []string) error {
	fail := func(err error) error { return &cli.ExitError{Code: 125, Err: err} }
	// Signals are caught from the start, so that the private bus is
	// removed whatever happens. Until the command runs, one aborts the
	// set-up; then see wait.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	setupCtx, endSetup := abortOnSignal(ctx, sigs)
	defer endSetup()
	failSetup := func(err error) error {
		if err := endSetup(); err != nil {
			return err
		}
		return fail(err)
	}

	c, done, err := a.connect()
	if err != nil {
		return failSetup(err)
	}
	defer done()
	// kapsuled starts the container if needed and says where Incus is.
	cwd, _ := os.Getwd()
	spec, err := c.PrepareExec(setupCtx, name, []string{"true"}, cwd, map[string]string{})
	if err != nil {
		return failSetup(fmt.Errorf("prepare %.64s: %w", name, err))
	}
	var opts []incus.Option
	if spec.Project != "" {
		opts = append(opts, incus.WithProject(spec.Project))
	}
	ic := incus.NewUnix(spec.Socket, opts...)
	defer ic.Close()

	bus, err := startPrivateBus(setupCtx)
	if err != nil {
		return failSetup(err)
	}
	defer bus.stop()

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fwd, err := bridge.NewForwarder(bridge.ForwarderConfig{
		SessionAddress: bus.address,
		Name:           "org.freedesktop.PackageKit",
		Container:      spec.Container,
		Dial: func(ctx context.Context) (io.ReadWriteCloser, error) {
			return ic.ExecStream(ctx, spec.Container, []string{"systemd-stdio-bridge"}, nil)
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return failSetup(err)
	}
	fwdDone := make(chan error, 1)
	go func() { fwdDone <- fwd.Run(fctx) }()
	defer func() {
		cancel()
		<-fwdDone
	}()
	select {
	case <-fwd.Ready():
	case err := <-fwdDone:
		fwdDone <- err
		return failSetup(fmt.Errorf("export PackageKit of %s: %w", spec.Container, err))
	case <-time.After(20 * time.Second):
		return failSetup(fmt.Errorf("export PackageKit of %s: timed out", spec.Container))
	case <-setupCtx.Done():
		return failSetup(context.Cause(setupCtx))
	}
	if err := endSetup(); err != nil {
		return err
	}

	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = append(withoutKey(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS"), "DBUS_SYSTEM_BUS_ADDRESS="+bus.address)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.stdin, a.stdout, a.stderr
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("run %s: %w", command[0], err))
	}
	return wait(cmd, sigs)
}

// abortOnSignal returns a context that the first signal on sigs cancels,
// until end is called. end (which may be called again) reports a signal
// that came as the exit status a shell gives, 128+N.
func abortOnSignal(ctx context.Context, sigs <-chan os.Signal) (context.Context, func() error) {
	ctx, abort := context.WithCancelCause(ctx)
	done, watching := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watching)
		select {
		case s := <-sigs:
			abort(signalled{s.(syscall.Signal)})
		case <-done:
		}
	}()
	end := sync.OnceValue(func() error {
		close(done)
		<-watching
		var sig signalled
		err := context.Cause(ctx)
		abort(nil)
		if errors.As(err, &sig) {
			return &cli.ExitError{Code: 128 + int(sig.sig)}
		}
		return nil
	})
	return ctx, end
}

// signalled is why the set-up was aborted.
type signalled struct{ sig syscall.Signal }

func (s signalled) Error() string { return "interrupted by " + s.sig.String() }

// wait waits for the command and returns its exit status; a command killed
// by a signal gives 128+N, as in a shell. Meanwhile kapsule-update stays
// up, so that the command can still reach PackageKit and the private bus
// is removed after it: Ctrl-C and Ctrl-\ reach the command from the
// terminal (the same process group) and are not passed on again; SIGTERM
// and SIGHUP, which are sent to kapsule-update alone, are.
func wait(cmd *exec.Cmd, sigs <-chan os.Signal) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case err := <-done:
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee):
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return &cli.ExitError{Code: 128 + int(ws.Signal())}
				}
				return &cli.ExitError{Code: ee.ExitCode()}
			case err != nil:
				return &cli.ExitError{Code: 125, Err: fmt.Errorf("run %s: %w", cmd.Path, err)}
			}
			return nil
		case s := <-sigs:
			if s == syscall.SIGTERM || s == syscall.SIGHUP {
				_ = cmd.Process.Signal(s)
			}
		}
	}
}

func withoutKey(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// privateBus is a dbus-daemon of our own, reachable only by this user (its
// socket is in a 0700 directory under XDG_RUNTIME_DIR).
type privateBus struct {
	address string
	dir     string
	cmd     *exec.Cmd
}

func startPrivateBus(ctx context.Context) (*privateBus, error) {
	base := os.Getenv("XDG_RUNTIME_DIR")
	if base == "" {
		base = os.TempDir()
	}
	if err := os.MkdirAll(filepath.Join(base, "kapsule"), 0o700); err != nil {
		return nil, fmt.Errorf("private bus: %w", err)
	}
	dir, err := os.MkdirTemp(filepath.Join(base, "kapsule"), "client-")
	if err != nil {
		return nil, fmt.Errorf("private bus: %w", err)
	}
	conf := fmt.Sprintf(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>kapsule-client</type>
  <listen>unix:path=%s/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="%d"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`, dir, os.Getuid())
	if err := os.WriteFile(filepath.Join(dir, "bus.conf"), []byte(conf), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("private bus: %w", err)
	}
	cmd := exec.Command("dbus-daemon", "--config-file="+filepath.Join(dir, "bus.conf"), "--nofork", "--nopidfile", "--print-address=1")
	// Out of the terminal's foreground process group: Ctrl-C must not take
	// the bus away from a command that still talks to it (pkcon cancels
	// its transaction).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("private bus: start dbus-daemon (is the dbus-daemon package installed?): %w", err)
	}
	b := &privateBus{dir: dir, cmd: cmd}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case b.address = <-line:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	if b.address == "" {
		b.stop()
		return nil, fmt.Errorf("private bus: dbus-daemon did not start")
	}
	return b, nil
}

func (b *privateBus) stop() {
	if b.cmd.Process != nil {
		_ = b.cmd.Process.Kill()
		_ = b.cmd.Wait()
	}
	_ = os.RemoveAll(b.dir)
}
