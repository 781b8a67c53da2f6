package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/godbus/dbus/v5"
	"github.com/spf13/cobra"

	"invent.kde.org/kapsule/kapsule/bridge"
)

func (a *app) statusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the schedule, the last and next check, gating and each container",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := a.connect()
			if err != nil {
				return err
			}
			defer done()
			var st map[string]dbus.Variant
			if err := c.Call(cmd.Context(), "GetUpdateStatus", []any{&st}); err != nil {
				return err
			}
			var srcs []bridge.UpdateSource
			if err := c.Call(cmd.Context(), "ListUpdateSources", []any{&srcs}); err != nil {
				return err
			}
			sums, err := summaries(cmd, c)
			if err != nil {
				return err
			}
			gating, _ := st["gating"].Value().(map[string]string)
			if asJSON {
				out := map[string]any{}
				for k, v := range st {
					out[k] = v.Value()
				}
				var cs []map[string]any
				for _, s := range srcs {
					row := map[string]any{"container": s.Container, "bus_name": s.BusName, "packagekit": s.PackageKit, "state": s.State, "reason": s.Reason}
					for k, v := range sums[s.Container] {
						row[k] = v.Value()
					}
					cs = append(cs, row)
				}
				out["containers"] = cs
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			last, _ := st["last_run"].Value().(int64)
			next, _ := st["next_run"].Value().(int64)
			var checked int64
			for _, sum := range sums {
				if lc, _ := sum["last_check"].Value().(int64); lc > checked {
					checked = lc
				}
			}
			fmt.Fprintf(a.stdout, "Schedule:    %v\n", st["schedule"].Value())
			fmt.Fprintf(a.stdout, "Last check:  %s (last scheduled run: %s)\n", when(checked), when(last))
			fmt.Fprintf(a.stdout, "Next check:  %s\n", when(next))
			if skipped, _ := st["skipped"].Value().(string); skipped != "" {
				at, _ := st["skipped_at"].Value().(int64)
				fmt.Fprintf(a.stdout, "Skipped:     %s (%s); retried later\n", skipped, when(at))
			}
			keys := make([]string, 0, len(gating))
			for k := range gating {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprint(a.stdout, "Gating:     ")
			for _, k := range keys {
				fmt.Fprintf(a.stdout, " %s=%s", k, gating[k])
			}
			fmt.Fprintf(a.stdout, "\nAuto-apply:  %v\n\n", st["auto_apply"].Value())
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CONTAINER\tSOURCE\tUPDATES\tSECURITY\tCHECKED\tNOTE")
			listed := map[string]bool{}
			for _, s := range srcs {
				listed[s.Container] = true
			}
			for name := range sums { // known from earlier checks, not looked at yet
				if !listed[name] {
					srcs = append(srcs, bridge.UpdateSource{Container: name, State: "unknown"})
				}
			}
			for _, s := range srcs {
				sum := sums[s.Container]
				count, _ := sum["count"].Value().(uint32)
				sec, _ := sum["security"].Value().(uint32)
				lc, _ := sum["last_check"].Value().(int64)
				note := s.Reason
				if e, _ := sum["last_error"].Value().(string); note == "" && e != "" {
					note = e
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", s.Container, s.State, count, sec, when(lc), note)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object")
	return cmd
}
