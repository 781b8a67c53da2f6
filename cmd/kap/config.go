package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"invent.kde.org/kapsule/kapsule/kapsulerc"
)

func (a *app) configCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "config [GROUP.KEY]",
		Short: "Show the effective configuration and where each value comes from",
		Long: `Show Kapsule's effective configuration: each setting of kapsulerc, its value,
and the file it comes from (or "built-in"). Files, later ones winning:
$XDG_DATA_DIRS/kapsule/kapsulerc (the shipped defaults, e.g.
/usr/share/kapsule/kapsulerc), $XDG_CONFIG_DIRS/kapsulerc (/etc/xdg),
$XDG_CONFIG_HOME/kapsulerc (~/.config). Edit your own file to change them.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return exactlyArgs(1, "at most one GROUP.KEY")(cmd, args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c := kapsulerc.Load()
			for _, p := range c.Problems {
				fmt.Fprintf(a.stderr, "warning: %v\n", p)
			}
			values := c.Values
			if len(args) == 1 {
				group, key, ok := cutDot(args[0])
				v, found := c.Lookup(group, key)
				if !ok || !found {
					return fmt.Errorf("no setting %q: use GROUP.KEY as listed by '%s config'", args[0], a.name)
				}
				values = []kapsulerc.Value{v}
			}
			if asJSON {
				type row struct {
					Group  string `json:"group"`
					Key    string `json:"key"`
					Value  string `json:"value"`
					Source string `json:"source"`
				}
				out := []row{}
				for _, v := range values {
					out = append(out, row{v.Group, v.Key, v.Value, v.Source})
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			if len(args) == 1 {
				fmt.Fprintln(a.stdout, values[0].Value)
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SETTING\tVALUE\tSOURCE")
			for _, v := range values {
				fmt.Fprintf(tw, "%s.%s\t%s\t%s\n", v.Group, v.Key, v.Value, v.Source)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON objects")
	return cmd
}

func cutDot(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return "", "", false
}
