package main

import (
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"
	"github.com/spf13/cobra"

	"invent.kde.org/kapsule/kapsule/cmd/internal/cli"
	"invent.kde.org/kapsule/kapsule/lifecycle"
)

func (a *app) createCommand() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a container",
		Long: `Create a container. Options not given keep their defaults (see below, or the
schema the service publishes). Host paths are mounted, never copied: removing
or resetting the container leaves them alone.`,
		Example: `  kap create dev
  kap create arch --image images:archlinux --no-gpu --mount /srv/data
  kap create small --cpu 2 --memory 4GiB --no-nesting`,
		Args: exactlyArgs(1, "NAME"),
	}
	set := addOptionFlags(cmd)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "show only warnings and errors")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opts, err := set(cmd)
		if err != nil {
			return err
		}
		c, done, err := a.connect()
		if err != nil {
			return err
		}
		defer done()
		image := ""
		if v, ok := opts["image"]; ok {
			image = v.Value().(string)
			delete(opts, "image")
		}
		ctx, stop := interruptible(cmd.Context())
		defer stop()
		p := cli.NewProgress(a.stderr, quiet)
		_, err = c.Start(ctx, p.Events(), "CreateContainer", args[0], image, opts)
		p.Done()
		if err != nil {
			return fmt.Errorf("create %.64s: %w", args[0], err)
		}
		fmt.Fprintf(a.stderr, "Created %s. Enter it with: %s enter %s\n", args[0], a.name, args[0])
		return nil
	}
	return cmd
}

// addOptionFlags adds one flag per create option of the schema (booleans
// get --x and --no-x) and returns a function that collects the options the
// user set, as D-Bus variants.
func addOptionFlags(cmd *cobra.Command) func(*cobra.Command) (map[string]dbus.Variant, error) {
	schema := lifecycle.CreateSchema("")
	type flag struct {
		key, typ string
		b, nb    *bool
		s        *string
		list     *[]string
	}
	var flags []flag
	fs := cmd.Flags()
	for _, sec := range schema.Sections {
		for _, o := range sec.Options {
			name := strings.ReplaceAll(o.Key, "_", "-")
			f := flag{key: o.Key, typ: o.Type}
			switch o.Type {
			case "boolean":
				def, _ := o.Default.(bool)
				f.b = fs.Bool(name, def, o.Description)
				f.nb = fs.Bool("no-"+name, false, "do not: "+strings.ToLower(o.Description[:1])+o.Description[1:])
			case "string":
				f.s = fs.String(name, "", o.Description+exampleSuffix(o))
			case "array":
				if o.Key == "custom_mounts" {
					name = "mount"
				}
				f.list = fs.StringArray(name, nil, o.Description+" (repeatable)")
			}
			flags = append(flags, f)
		}
	}
	return func(cmd *cobra.Command) (map[string]dbus.Variant, error) {
		out := map[string]dbus.Variant{}
		for _, f := range flags {
			name := strings.ReplaceAll(f.key, "_", "-")
			switch f.typ {
			case "boolean":
				on, off := fs.Changed(name), fs.Changed("no-"+name)
				if on && off {
					return nil, cli.Usagef("--%s and --no-%s contradict each other", name, name)
				}
				if on {
					out[f.key] = dbus.MakeVariant(*f.b)
				} else if off {
					out[f.key] = dbus.MakeVariant(!*f.nb)
				}
			case "string":
				if fs.Changed(name) {
					out[f.key] = dbus.MakeVariant(*f.s)
				}
			case "array":
				if f.key == "custom_mounts" {
					name = "mount"
				}
				if fs.Changed(name) {
					out[f.key] = dbus.MakeVariant(*f.list)
				}
			}
		}
		return out, nil
	}
}

func exampleSuffix(o lifecycle.OptionSpec) string {
	if o.Example == "" {
		return ""
	}
	return " (e.g. " + o.Example + ")"
}

// exactlyArgs is cobra.ExactArgs with a message naming the arguments.
func exactlyArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return cli.Usagef("%s takes %s (got %d arguments); see '%s --help'", cmd.CommandPath(), names, len(args), cmd.CommandPath())
		}
		return nil
	}
}
