package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"invent.kde.org/kapsule/kapsule/bridge"
	"invent.kde.org/kapsule/kapsule/cmd/internal/cli"
)

func (a *app) applyCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "apply [NAME...]",
		Short: "Apply pending updates (all containers with updates by default)",
		Long: `Apply the pending updates of the given containers, or of every container
that has some, in parallel: a progress bar per container on a terminal,
plain lines otherwise. Asks for confirmation unless --yes is given.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := a.connect()
			if err != nil {
				return err
			}
			defer done()
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			sums, err := summaries(cmd, c)
			if err != nil {
				return err
			}
			names := args
			if len(names) == 0 {
				for _, n := range selected(sums, nil) {
					if count, _ := sums[n]["count"].Value().(uint32); count > 0 {
						names = append(names, n)
					}
				}
				if len(names) == 0 {
					fmt.Fprintln(a.stderr, "Nothing to apply (as of the last check; run 'kapsule-update check' first).")
					return nil
				}
			}
			if !yes {
				if !cli.IsTerminal(a.stdout) || !isTerminal(a.stdin) {
					return cli.Usagef("apply changes %s; confirm with --yes", strings.Join(names, ", "))
				}
				fmt.Fprintf(a.stderr, "Apply the pending updates in %s? [y/N] ", strings.Join(names, ", "))
				line, _ := bufio.NewReader(a.stdin).ReadString('\n')
				if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
					return fmt.Errorf("not confirmed, nothing changed")
				}
			}
			return a.applyAll(ctx, c, names)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	return ok && cli.IsTerminal(f)
}

// applyAll runs one ApplyUpdates operation per container, concurrently.
func (a *app) applyAll(ctx context.Context, c *bridge.Client, names []string) error {
	var bars *mpb.Progress
	if cli.IsTerminal(a.stderr) {
		bars = mpb.NewWithContext(ctx, mpb.WithOutput(a.stderr), mpb.WithWidth(40))
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, name := range names {
		ev := a.plainEvents(name, &mu)
		var bar *mpb.Bar
		if bars != nil {
			var status string
			bar = bars.AddBar(100,
				mpb.PrependDecorators(decor.Name(name, decor.WC{W: len(name) + 1, C: decor.DindentRight})),
				mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5}), decor.Any(func(decor.Statistics) string {
					mu.Lock()
					defer mu.Unlock()
					return " " + status
				})))
			ev = bridge.Events{
				Update: func(id string, current int32, rate float64) { bar.SetCurrent(int64(current)) },
				Text: func(id, text string) {
					mu.Lock()
					status = strings.TrimPrefix(text, name+": ")
					mu.Unlock()
				},
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Start(ctx, ev, "ApplyUpdates", name, []string{})
			if bar != nil {
				if err != nil {
					bar.Abort(false)
				} else {
					bar.SetCurrent(100)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%.64s: %w", name, err))
			} else if bars == nil {
				fmt.Fprintf(a.stdout, "%s: updated\n", name)
			}
		}()
	}
	wg.Wait()
	if bars != nil {
		bars.Wait()
		for _, name := range names {
			ok := true
			for _, e := range errs {
				ok = ok && !strings.HasPrefix(e.Error(), name+": ")
			}
			if ok {
				fmt.Fprintf(a.stdout, "%s: updated\n", name)
			}
		}
	}
	return errors.Join(errs...)
}

// plainEvents prints progress as lines (not on a terminal).
func (a *app) plainEvents(name string, mu *sync.Mutex) bridge.Events {
	last := ""
	return bridge.Events{
		Text: func(id, text string) {
			mu.Lock()
			defer mu.Unlock()
			if text != last {
				fmt.Fprintln(a.stderr, text)
				last = text
			}
		},
		Message: func(kind int32, text string) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintln(a.stderr, text)
		},
	}
}
