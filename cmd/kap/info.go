package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/godbus/dbus/v5"
	"github.com/spf13/cobra"
)

func (a *app) infoCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info NAME",
		Short: "Show a container's details: networking, options, update source",
		Args:  exactlyArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := a.connect()
			if err != nil {
				return err
			}
			defer done()
			d, err := c.ContainerDetails(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			plain := map[string]any{}
			for k, v := range d {
				plain[k] = v.Value()
			}
			// The options are an a{sv}: unwrap its variants, or JSON
			// gets {} for each and the table leaves them out.
			if opts, ok := plain["options"].(map[string]dbus.Variant); ok {
				m := make(map[string]any, len(opts))
				for k, v := range opts {
					m[k] = v.Value()
				}
				plain["options"] = m
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(plain)
			}
			keys := make([]string, 0, len(plain))
			for k := range plain {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			for _, k := range keys {
				if k == "options" {
					continue
				}
				fmt.Fprintf(tw, "%s:\t%v\n", k, plain[k])
			}
			if opts, ok := plain["options"].(map[string]any); ok {
				fmt.Fprintln(tw, "options:")
				okeys := make([]string, 0, len(opts))
				for k := range opts {
					okeys = append(okeys, k)
				}
				sort.Strings(okeys)
				for _, k := range okeys {
					fmt.Fprintf(tw, "  %s:\t%v\n", k, opts[k])
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object")
	return cmd
}
