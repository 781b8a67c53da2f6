package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
)

// execIn runs a prepared command through the Incus API, directly from
// this process: stdin, stdout and stderr are connected, signals kap gets
// are forwarded, and on a terminal the window size follows the window.
//
// Incus sometimes fails to start a command in a container that is busy
// starting up ("Failed to retrieve PID of executing child process"); as
// long as the command has taken no input and written no output, that is
// retried.
func (a *app) execIn(ctx context.Context, spec bridge.ExecSpec, tty bool) (int, error) {
	pump := newStdinPump(a.stdin)
	for attempt := 1; ; attempt++ {
		in := pump.attempt()
		out, errw := &countingWriter{w: a.stdout}, &countingWriter{w: a.stderr}
		code, err := a.execOnce(ctx, spec, tty, in, out, errw)
		in.end()
		if err == nil || attempt == 3 || !startFailed(err) || in.consumed() || out.n.Load() > 0 || errw.n.Load() > 0 {
			return code, err
		}
		select {
		case <-ctx.Done():
			return code, err
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}

// startFailed recognises Incus failing to start a command (as opposed to
// the command failing).
func startFailed(err error) bool {
	return strings.Contains(strings.ToLower(err.Error()), "failed to retrieve pid of executing child process")
}

func (a *app) execOnce(ctx context.Context, spec bridge.ExecSpec, tty bool, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	var opts []incus.Option
	if spec.Project != "" {
		opts = append(opts, incus.WithProject(spec.Project))
	}
	client := incus.NewUnix(spec.Socket, opts...)
	defer client.Close()

	cmd := incus.Cmd{
		Command: spec.Command,
		Env:     spec.Env,
		User:    spec.UID,
		Group:   spec.GID,
		Cwd:     spec.Cwd,
		Stdin:   stdin,
		Stdout:  stdout,
		Stderr:  stderr,
	}
	in, inIsFile := a.stdin.(*os.File)
	out, outIsFile := a.stdout.(*os.File)
	if tty {
		cmd.Interactive = true
		cmd.Width, cmd.Height = 80, 24
		if outIsFile {
			if w, h, err := term.GetSize(int(out.Fd())); err == nil {
				cmd.Width, cmd.Height = w, h
			}
		}
		if inIsFile && term.IsTerminal(int(in.Fd())) {
			old, err := term.MakeRaw(int(in.Fd()))
			if err == nil {
				defer term.Restore(int(in.Fd()), old)
			}
		}
	}
	p, err := client.StartExec(ctx, spec.Container, cmd)
	if err != nil {
		return 0, err
	}

	sigs := make(chan os.Signal, 8)
	forward := []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}
	if tty {
		forward = append(forward, syscall.SIGWINCH)
	}
	signal.Notify(sigs, forward...)
	defer signal.Stop(sigs)
	for {
		select {
		case <-p.Done():
			return p.Wait()
		case s := <-sigs:
			sig := s.(syscall.Signal)
			if sig == syscall.SIGWINCH {
				if outIsFile {
					if w, h, err := term.GetSize(int(out.Fd())); err == nil {
						_ = p.Resize(w, h)
					}
				}
				continue
			}
			_ = p.Signal(sig)
		}
	}
}
