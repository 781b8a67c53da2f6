// Command kapsule-update checks and applies updates in Kapsule's
// containers through kapsuled, and runs stock PackageKit clients (pkcon,
// Discover) against one container.
//
// Exit status: 0 success (check: no updates pending), 1 error, 2 usage
// error, 100 (check) updates are available; `client` returns the
// command's own status.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/cmd/internal/cli"
)

// ExitUpdatesAvailable is check's status when updates are pending (like
// dnf check-update).
const ExitUpdatesAvailable = 100

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	var ee *cli.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.Err != nil) {
		fmt.Fprintf(os.Stderr, "kapsule-update: %v\n", err)
	}
	os.Exit(cli.Code(err))
}

type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "kapsule-update",
		Short: "Check and apply updates in Kapsule's containers",
		Long: `kapsule-update asks kapsuled to check Kapsule's containers for updates, lists
them and applies them; kapsuled also checks on a schedule (see 'status').
'client' runs an unmodified PackageKit client against one container.`,
		Version:       cli.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(cli.VersionCommand("kapsule-update", stdout), a.checkCommand(), a.listCommand(), a.applyCommand(), a.statusCommand(), a.clientCommand())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cli.UsageError{Err: fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil {
		var ue *cli.UsageError
		var ee *cli.ExitError
		if !errors.As(err, &ue) && !errors.As(err, &ee) && strings.Contains(err.Error(), "unknown command") {
			return &cli.UsageError{Err: err}
		}
	}
	return err
}

// interruptible cancels on Ctrl-C or SIGTERM (a cancelled wait cancels the
// operation in kapsuled).
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func (a *app) connect() (*bridge.Client, func(), error) { return cli.Connect() }
