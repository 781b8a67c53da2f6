package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"invent.kde.org/kapsule/kapsule/bridge"
)

// updateJSON is one pending update in `list --json`.
type updateJSON struct {
	Container string `json:"container"`
	Package   string `json:"package"`
	From      string `json:"from"`
	To        string `json:"to"`
	Arch      string `json:"arch"`
	Repo      string `json:"repo"`
	Severity  string `json:"severity"`
	Security  bool   `json:"security"`
	PackageID string `json:"package_id"`
	Summary   string `json:"summary"`
}

func (a *app) listCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [NAME...]",
		Short: "List pending updates found by the last check",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := a.connect()
			if err != nil {
				return err
			}
			defer done()
			names := args
			if len(names) == 0 {
				sums, err := summaries(cmd, c)
				if err != nil {
					return err
				}
				names = selected(sums, nil)
			}
			out := []updateJSON{}
			for _, n := range names {
				var rows []bridge.UpdateRow
				if err := c.Call(cmd.Context(), "ListUpdates", []any{&rows}, n); err != nil {
					return fmt.Errorf("list %.64s: %w", n, err)
				}
				for _, r := range rows {
					f := strings.Split(r.PackageID, ";")
					for len(f) < 4 {
						f = append(f, "")
					}
					out = append(out, updateJSON{Container: n, Package: f[0], From: r.Installed, To: f[1], Arch: f[2], Repo: f[3],
						Severity: r.Severity, Security: r.Severity == "security" || r.Severity == "critical", PackageID: r.PackageID, Summary: r.Summary})
				}
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CONTAINER\tPACKAGE\tFROM\tTO\tSECURITY")
			for _, u := range out {
				sec := ""
				if u.Security {
					sec = "yes"
				}
				from := u.From
				if from == "" {
					from = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Container, u.Package, from, u.To, sec)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(out) == 0 {
				fmt.Fprintln(a.stderr, "No pending updates (as of the last check; run 'kapsule-update check' to refresh).")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON objects")
	return cmd
}
