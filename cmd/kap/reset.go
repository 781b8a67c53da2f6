package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"invent.kde.org/kapsule/kapsule/cmd/internal/cli"
)

func (a *app) resetCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "reset NAME",
		Short: "Recreate a container from its image and options",
		Long: `Delete a container and create it again from the image and options it was
created with. Everything stored only inside the container is lost; your home
and host directories mounted into it are kept. Asks for confirmation unless
--yes is given.`,
		Args: exactlyArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !yes {
				if !cli.IsTerminal(a.stdout) || !isTerminalReader(a.stdin) {
					return cli.Usagef("reset deletes everything stored only inside %s; confirm with --yes", name)
				}
				fmt.Fprintf(a.stderr, "Reset %s? Everything stored only inside the container is lost; your home is kept. [y/N] ", name)
				line, _ := bufio.NewReader(a.stdin).ReadString('\n')
				if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
					return fmt.Errorf("reset %s: not confirmed, nothing changed", name)
				}
			}
			return a.operation(cmd, "reset "+name, "ResetContainer", name)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}
