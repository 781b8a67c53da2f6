package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/spf13/cobra"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/cmd/internal/cli"
)

func (a *app) checkCommand() *cobra.Command {
	var asJSON, quiet bool
	cmd := &cobra.Command{
		Use:   "check [NAME...]",
		Short: "Refresh package lists and count pending updates",
		Long: `Refresh the package lists of the given containers (all by default) and count
their pending updates. Exit status: 0 when nothing is pending, 100 when
updates are available, 1 on errors.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := a.connect()
			if err != nil {
				return err
			}
			defer done()
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			p := cli.NewProgress(a.stderr, quiet)
			if args == nil {
				args = []string{}
			}
			_, checkErr := c.Start(ctx, p.Events(), "CheckUpdates", args)
			p.Done()
			sums, err := summaries(cmd, c)
			if err != nil {
				return err
			}
			names := selected(sums, args)
			var total uint32
			rows := []map[string]any{}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			if !asJSON {
				fmt.Fprintln(tw, "CONTAINER\tUPDATES\tSECURITY\tCHECKED\tERROR")
			}
			for _, n := range names {
				s := sums[n]
				count, _ := s["count"].Value().(uint32)
				sec, _ := s["security"].Value().(uint32)
				last, _ := s["last_check"].Value().(int64)
				errText, _ := s["last_error"].Value().(string)
				total += count
				if asJSON {
					rows = append(rows, map[string]any{"container": n, "updates": count, "security": sec, "last_check": last, "error": errText})
					continue
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", n, count, sec, when(last), errText)
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rows); err != nil {
					return err
				}
			} else if err := tw.Flush(); err != nil {
				return err
			}
			if checkErr != nil {
				return fmt.Errorf("check: %w", checkErr)
			}
			if total > 0 {
				return &cli.ExitError{Code: ExitUpdatesAvailable}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON objects")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress")
	return cmd
}

func summaries(cmd *cobra.Command, c *bridge.Client) (map[string]map[string]dbus.Variant, error) {
	var sums map[string]map[string]dbus.Variant
	if err := c.Call(cmd.Context(), "GetUpdateSummaries", []any{&sums}); err != nil {
		return nil, err
	}
	return sums, nil
}

// selected returns the names asked for, or all, sorted.
func selected(sums map[string]map[string]dbus.Variant, args []string) []string {
	if len(args) > 0 {
		return args
	}
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func when(unix int64) string {
	if unix == 0 {
		return "never"
	}
	return time.Unix(unix, 0).Local().Format("2006-01-02 15:04")
}
