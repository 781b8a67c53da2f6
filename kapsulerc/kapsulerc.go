// Package kapsulerc reads Kapsule's configuration: KConfig-style INI files
// named kapsulerc, cascaded like KConfig does. Later files win:
//
//	$XDG_DATA_DIRS/kapsule/kapsulerc  package defaults (default /usr/share, then /usr/local/share)
//	$XDG_CONFIG_DIRS/kapsulerc        system (default /etc/xdg/kapsulerc)
//	$XDG_CONFIG_HOME/kapsulerc        the user's (default ~/.config/kapsulerc)
//
// The package defaults are found through XDG_DATA_DIRS, as every data file
// of a desktop (and QStandardPaths) is, so `make install` with any PREFIX
// whose share/ is on that path works without building the path in.
//
// Every effective value remembers where it came from, so `kap config` can
// say so. A bad value never stops Kapsule: it is reported as a Problem and
// the value from the layer below is kept.
package kapsulerc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/ini.v1"
)

// BuiltIn is the source of values nobody configured.
const BuiltIn = "built-in"

// Value is one effective setting.
type Value struct {
	Group, Key string
	Value      string
	Source     string // file path, or BuiltIn
}

// Problem is a setting that could not be used.
type Problem struct {
	Source, Group, Key, Value string
	Err                       error
}

func (p Problem) Error() string {
	if p.Key == "" {
		return fmt.Sprintf("%s: %v", p.Source, p.Err)
	}
	return fmt.Sprintf("%s: [%s] %s=%s: %v (ignored, the value below it is used; fix or remove the line)", p.Source, p.Group, p.Key, p.Value, p.Err)
}

// Files returns the kapsulerc paths to read, lowest priority first, for
// the given environment lookup (os.Getenv in production).
func Files(getenv func(string) string) []string {
	var files []string
	for _, dir := range xdgDirs(getenv("XDG_DATA_DIRS"), "/usr/local/share:/usr/share") {
		files = append(files, filepath.Join(dir, "kapsule", "kapsulerc"))
	}
	for _, dir := range xdgDirs(getenv("XDG_CONFIG_DIRS"), "/etc/xdg") {
		files = append(files, filepath.Join(dir, "kapsulerc"))
	}
	return append(files, UserFile(getenv))
}

// xdgDirs returns an XDG search path (most important first, def when
// unset) least important first, the order files are read in. Relative
// entries are ignored, as the XDG Base Directory spec asks.
func xdgDirs(list, def string) []string {
	if list == "" {
		list = def
	}
	var dirs []string
	for _, d := range strings.Split(list, ":") {
		if filepath.IsAbs(d) {
			dirs = append([]string{d}, dirs...)
		}
	}
	return dirs
}

// UserFile is the user's own kapsulerc.
func UserFile(getenv func(string) string) string {
	home := getenv("XDG_CONFIG_HOME")
	if home == "" {
		home = filepath.Join(getenv("HOME"), ".config")
	}
	return filepath.Join(home, "kapsulerc")
}

// Raw is the content of the files: group -> key -> the values set for it,
// lowest priority first.
type Raw map[string]map[string][]Value

// Read merges the files (missing ones are skipped). Unreadable or
// malformed files are reported and skipped.
func Read(files []string) (Raw, []Problem) {
	raw := Raw{}
	var problems []Problem
	for _, path := range files {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			problems = append(problems, Problem{Source: path, Err: fmt.Errorf("cannot read: %w", err)})
			continue
		}
		f, err := ini.LoadSources(ini.LoadOptions{
			IgnoreInlineComment:     true,
			SkipUnrecognizableLines: false,
			AllowBooleanKeys:        false,
			KeyValueDelimiters:      "=",
		}, data)
		if err != nil {
			problems = append(problems, Problem{Source: path, Err: fmt.Errorf("not a valid INI file (the whole file is ignored): %w", err)})
			continue
		}
		for _, sec := range f.Sections() {
			group := sec.Name()
			if group == ini.DefaultSection {
				if len(sec.Keys()) > 0 {
					problems = append(problems, Problem{Source: path, Err: fmt.Errorf("keys before the first [Group] are ignored: %s", strings.Join(sec.KeyStrings(), ", "))})
				}
				continue
			}
			for _, k := range sec.Keys() {
				name := k.Name()
				// KConfig markers such as Key[$i] (immutable) and localized
				// Key[de]: keep the plain key, ignore localized variants.
				if i := strings.IndexByte(name, '['); i > 0 {
					if !strings.HasPrefix(name[i:], "[$") {
						continue
					}
					name = name[:i]
				}
				if raw[group] == nil {
					raw[group] = map[string][]Value{}
				}
				raw[group][name] = append(raw[group][name], Value{Group: group, Key: name, Value: strings.TrimSpace(k.Value()), Source: path})
			}
		}
	}
	return raw, problems
}

// Sorted returns every value sorted by group and key.
func (r Raw) Sorted() []Value {
	var out []Value
	for _, keys := range r {
		for _, vs := range keys {
			out = append(out, vs...)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Key < out[j].Key
	})
	return out
}
