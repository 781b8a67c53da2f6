package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"invent.kde.org/kapsule/kapsule/bridge"
)

// Version is Kapsule's version: the CLIs' and kapsuled's (the Manager's
// Version property).
var Version = "0.1.0"

// VersionCommand is `NAME version`: this tool's version and that of the
// kapsuled it talks to (activated when needed), like `incus version`.
func VersionCommand(name string, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the versions of this tool and of kapsuled",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(stdout, "%s: %s\n", name, Version)
			fmt.Fprintf(stdout, "kapsuled: %s\n", serviceVersion(cmd.Context()))
			return nil
		},
	}
}

func serviceVersion(ctx context.Context) string {
	conn, err := bridge.DialSession()
	if err != nil {
		return "unreachable (" + err.Error() + ")"
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var v string
	err = conn.Object(bridge.ServiceName, bridge.ManagerPath).
		CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, bridge.ManagerInterface, "Version").Store(&v)
	if err != nil {
		return "unreachable (" + err.Error() + ")"
	}
	return v
}
