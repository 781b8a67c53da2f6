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
	"path/filepath"
	"strings"
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
returned.`,
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
	c, done, err := a.connect()
	if err != nil {
		return fail(err)
	}
	defer done()
	// kapsuled starts the container if needed and says where Incus is.
	cwd, _ := os.Getwd()
	spec, err := c.PrepareExec(ctx, name, []string{"true"}, cwd, map[string]string{})
	if err != nil {
		return fail(fmt.Errorf("prepare %s: %w", name, err))
	}
	var opts []incus.Option
	if spec.Project != "" {
		opts = append(opts, incus.WithProject(spec.Project))
	}
	ic := incus.NewUnix(spec.Socket, opts...)
	defer ic.Close()

	bus, err := startPrivateBus(ctx)
	if err != nil {
		return fail(err)
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
		return fail(err)
	}
	fwdDone := make(chan error, 1)
	go func() { fwdDone <- fwd.Run(fctx) }()
	select {
	case <-fwd.Ready():
	case err := <-fwdDone:
		return fail(fmt.Errorf("export PackageKit of %s: %w", spec.Container, err))
	case <-time.After(20 * time.Second):
		return fail(fmt.Errorf("export PackageKit of %s: timed out", spec.Container))
	}

	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Env = append(withoutKey(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS"), "DBUS_SYSTEM_BUS_ADDRESS="+bus.address)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.stdin, a.stdout, a.stderr
	err = cmd.Run()
	cancel()
	<-fwdDone
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return &cli.ExitError{Code: ee.ExitCode()}
	case err != nil:
		return fail(fmt.Errorf("run %s: %w", command[0], err))
	}
	return nil
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
