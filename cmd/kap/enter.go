package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/cmd/internal/cli"
	"invent.kde.org/kapsule/kapsule/lifecycle"
)

func (a *app) enterCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "enter [NAME]",
		Short: "Open your shell in a container",
		Long: `Open your login shell in a container, as yourself, in the current directory
when the container has it. Without NAME, the default container (kap config
Containers.DefaultContainer), created on first use.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return cli.Usagef("enter takes at most one NAME; to run a command use '%s run NAME -- COMMAND'", a.name)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return a.execute(cmd.Context(), name, nil, ttyMode(a, autoTTY))
		},
	}
}

func (a *app) runCommand() *cobra.Command {
	var forceTTY, noTTY bool
	cmd := &cobra.Command{
		Use:   "run [NAME] -- COMMAND [ARGS...]",
		Short: "Run a command in a container",
		Long: `Run a command in a container as yourself, with its arguments exactly as given
(no shell in between), stdin, stdout and stderr connected, and its exit
status returned. Without NAME (nothing before --), the default container.
A terminal is used when stdin and stdout are both terminals (-t forces one,
-T never).`,
		Example: `  kap run dev -- make -j8
  kap run dev -- sh -c 'echo $HOME'
  git diff | kap run dev -- wc -l`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			var name string
			var command []string
			switch {
			case dash < 0 && len(args) >= 1:
				return cli.Usagef("put -- before the command: '%s run %s -- %s'", a.name, args[0], strings.Join(args[1:], " "))
			case dash < 0 || dash == len(args):
				return cli.Usagef("no command to run: '%s run [NAME] -- COMMAND [ARGS...]'", a.name)
			case dash == 0:
				command = args
			case dash == 1:
				name, command = args[0], args[1:]
			default:
				return cli.Usagef("only one NAME may come before --, got %q", args[:dash])
			}
			if forceTTY && noTTY {
				return cli.Usagef("-t and -T contradict each other")
			}
			mode := autoTTY
			if forceTTY {
				mode = alwaysTTY
			} else if noTTY {
				mode = neverTTY
			}
			return a.execute(cmd.Context(), name, command, ttyMode(a, mode))
		},
	}
	cmd.Flags().BoolVarP(&forceTTY, "tty", "t", false, "use a terminal even when stdin or stdout is not one")
	cmd.Flags().BoolVarP(&noTTY, "no-tty", "T", false, "never use a terminal")
	return cmd
}

type ttyChoice int

const (
	autoTTY ttyChoice = iota
	alwaysTTY
	neverTTY
)

func ttyMode(a *app, c ttyChoice) bool {
	switch c {
	case alwaysTTY:
		return true
	case neverTTY:
		return false
	}
	return isTerminalReader(a.stdin) && cli.IsTerminal(a.stdout)
}

func isTerminalReader(r any) bool {
	f, ok := r.(*os.File)
	return ok && cli.IsTerminal(f)
}

// execute prepares the container through kapsuled, then runs the command
// itself over the Incus API (the service keeps the container ready, kap
// only pays for the exec) and exits with the command's status.
func (a *app) execute(ctx context.Context, name string, command []string, tty bool) error {
	fail := func(err error) error { return &cli.ExitError{Code: cli.ExitRunFailed, Err: err} }
	c, done, err := a.connect()
	if err != nil {
		return fail(err)
	}
	defer done()
	cwd, _ := os.Getwd()
	env := environ()
	spec, err := c.PrepareExec(ctx, name, command, cwd, env)
	if err != nil && errors.Is(err, lifecycle.ErrNotFound) {
		spec, err = a.createDefault(ctx, c, name, command, cwd, env)
	}
	if err != nil {
		if name == "" {
			return fail(fmt.Errorf("prepare the default container: %w", err))
		}
		return fail(fmt.Errorf("prepare %.64s: %w", name, err))
	}
	if tty && cli.IsTerminal(a.stdout) {
		fmt.Fprint(a.stdout, osc777Push(spec.Container))
		defer fmt.Fprint(a.stdout, osc777Pop)
	}
	code, err := a.execIn(ctx, spec, tty)
	if err != nil && code > 0 {
		// Incus could not run the command (e.g. 127: not found); the
		// status is the shell's, the message says which command.
		return &cli.ExitError{Code: code, Err: fmt.Errorf("%s: %w", spec.Command[0], err)}
	}
	if err != nil {
		return fail(fmt.Errorf("run in %s: %w", spec.Container, err))
	}
	if code != 0 {
		return &cli.ExitError{Code: code}
	}
	return nil
}

// createDefault creates the default container on first use, with progress,
// when the container asked for (or none) is the default one.
func (a *app) createDefault(ctx context.Context, c *bridge.Client, name string, command []string, cwd string, env map[string]string) (bridge.ExecSpec, error) {
	cfg, err := c.Config(ctx)
	if err != nil {
		return bridge.ExecSpec{}, err
	}
	def := cfg["default_container"]
	if name != "" && name != def {
		return bridge.ExecSpec{}, fmt.Errorf("no container %q: create it with '%s create %s'", name, a.name, name)
	}
	fmt.Fprintf(a.stderr, "Creating the default container %s (image %s)...\n", def, cfg["default_image"])
	p := cli.NewProgress(a.stderr, false)
	_, err = c.Start(ctx, p.Events(), "CreateContainer", def, "", map[string]any{})
	p.Done()
	if err != nil && !errors.Is(err, lifecycle.ErrAlreadyExists) {
		return bridge.ExecSpec{}, fmt.Errorf("create the default container %s: %w", def, err)
	}
	return c.PrepareExec(ctx, def, command, cwd, env)
}

func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// OSC 777 sequences Konsole uses to know which container a tab is in.
const osc777Pop = "\033]777;container;pop;;\a"

func osc777Push(name string) string {
	clean := strings.Map(func(r rune) rune {
		if r == ';' || r == '\a' || r == '\033' || r < 0x20 {
			return -1
		}
		return r
	}, name)
	return "\033]777;container;push;" + clean + ";kapsule\a"
}
