package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"invent.kde.org/kapsule/kapsule/cmd/internal/cli"
	"invent.kde.org/kapsule/kapsule/lifecycle"
)

func (a *app) startCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "start NAME",
		Short: "Start a container",
		Args:  exactlyArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.operation(cmd, "start "+args[0], "StartContainer", args[0])
		},
	}
}

func (a *app) stopCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop a container",
		Args:  exactlyArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.operation(cmd, "stop "+args[0], "StopContainer", args[0], force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the container instead of shutting it down")
	return cmd
}

func (a *app) rmCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"delete"},
		Short:   "Delete a container (host files mounted into it are kept)",
		Long: `Delete a container and everything stored only inside it. Your home and any
host directory mounted into it are never touched. A running container is
refused unless --force is given.`,
		Args: exactlyArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := a.operation(cmd, "delete "+args[0], "DeleteContainer", args[0], force)
			if errors.Is(err, lifecycle.ErrRunning) {
				return fmt.Errorf("%s is running: stop it first ('%s stop %s') or use '%s rm --force %s'", args[0], a.name, args[0], a.name, args[0])
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "stop the container first if it is running")
	return cmd
}

// operation runs a Manager method returning an operation and shows its
// progress on stderr.
func (a *app) operation(cmd *cobra.Command, what, method string, args ...any) error {
	c, done, err := a.connect()
	if err != nil {
		return err
	}
	defer done()
	ctx, stop := interruptible(cmd.Context())
	defer stop()
	p := cli.NewProgress(a.stderr, false)
	_, err = c.Start(ctx, p.Events(), method, args...)
	p.Done()
	if err != nil {
		return fmt.Errorf("%.80s: %w", what, err)
	}
	return nil
}
