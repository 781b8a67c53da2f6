// The runtime would otherwise look at the cgroup CPU limit every second to
// adjust GOMAXPROCS: an idle session service must not wake up for that.

//go:debug updatemaxprocs=0

// Command kapsuled is Kapsule's user-session service. It owns
// org.kde.kapsule on the session bus, manages the user's containers on
// Incus, exports each container's PackageKit under its own name, and
// schedules update checks. It is started by D-Bus activation or by its
// systemd user unit, and exits cleanly when the session bus goes away.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"invent.kde.org/kapsule/kapsule/cmd/internal/cli"
	"invent.kde.org/kapsule/kapsule/systemd"
)

// Version of kapsuled (the Manager's Version property).
var Version = cli.Version

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "kapsuled: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kapsuled", flag.ContinueOnError)
	fs.SetOutput(stderr)
	debugLog := fs.Bool("debug", os.Getenv("KAPSULE_DEBUG") != "", "log debug messages")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version {
		fmt.Fprintln(stdout, Version)
		return nil
	}
	level := slog.LevelInfo
	if *debugLog {
		level = slog.LevelDebug
	}
	// A session service should stay small: a soft memory limit makes the
	// runtime collect and return memory to the system before growing past
	// it (GOMEMLIMIT, when set, wins).
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(12 << 20)
	}
	log := systemd.NewLogger(stderr, level)
	svc, err := newService(ctx, log, systemd.NewNotifier())
	if err != nil {
		return err
	}
	err = svc.Run(ctx)
	// Stopped (SIGTERM) or the session is over: a clean exit, so that
	// systemd's Restart=on-failure does not start a kapsuled without a
	// session bus again and again.
	if errors.Is(err, context.Canceled) || errors.Is(err, errSessionLost) {
		return nil
	}
	return err
}
