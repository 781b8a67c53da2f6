// Command kap manages Kapsule containers: long-lived Incus containers that
// feel like the host (same user, home, desktop sockets). It is also
// installed as `kapsule`, the name Konsole calls.
//
// Exit status: 0 success, 1 error, 2 usage error; `kap run` and `kap enter`
// return the command's own status, and 125 when kap itself failed.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/cmd/internal/cli"
)

func main() {
	// Commands that run something in a container forward signals to it;
	// the others cancel their operation on Ctrl-C (see interruptible).
	err := run(context.Background(), filepath.Base(os.Args[0]), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	var ee *cli.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.Err != nil) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
	}
	os.Exit(cli.Code(err))
}

// app holds what the commands share.
type app struct {
	name   string // kap or kapsule
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run executes one kap command line.
func run(ctx context.Context, name string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	a := &app{name: name, stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil && isCobraUsage(err) {
		return &cli.UsageError{Err: err}
	}
	return err
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   a.name,
		Short: "Developer containers that feel like the host",
		Long: `Kapsule keeps long-lived Incus containers that feel like your host: the same
user and home, your Wayland, X11, PipeWire and D-Bus sockets, your GPU, and
docker or podman inside. kapsuled, the session service, does the work;
kapsule-update keeps the containers up to date.`,
		Version:       cli.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		cli.VersionCommand(a.name, a.stdout),
		a.createCommand(),
		a.enterCommand(),
		a.runCommand(),
		a.listCommand(),
		a.infoCommand(),
		a.startCommand(),
		a.stopCommand(),
		a.rmCommand(),
		a.resetCommand(),
		a.configCommand(),
	)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cli.UsageError{Err: fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	return root
}

// isCobraUsage recognises cobra's own argument errors.
func isCobraUsage(err error) bool {
	var ue *cli.UsageError
	if errors.As(err, &ue) {
		return false
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// connect opens a client to kapsuled; call the returned func when done.
func (a *app) connect() (*bridge.Client, func(), error) {
	return cli.Connect()
}

// interruptible returns a context cancelled by Ctrl-C or SIGTERM: a
// cancelled wait cancels the operation in kapsuled.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}
