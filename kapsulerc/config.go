package kapsulerc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Config is Kapsule's effective configuration.
type Config struct {
	Containers Containers
	Updates    Updates
	Bridge     Bridge

	// Values lists every setting with its effective value and source, in
	// the order of the table below.
	Values []Value
	// Problems lists settings that could not be used.
	Problems []Problem
}

// Containers is the [Containers] group.
type Containers struct {
	DefaultContainer string // container used when a command names none
	DefaultImage     string // image used when a create names none
}

// Updates is the [Updates] group: scheduled update checks.
type Updates struct {
	Schedule         string        // cron spec or @every/@daily...
	StartupDelay     time.Duration // first check after login
	Jitter           time.Duration // random delay added to each run, at most this
	MaxConcurrent    int           // containers checked at the same time
	SkipOnMetered    bool
	MinBattery       int // percent; 0 disables the battery gate
	SkipOnPowerSaver bool
	AutoApply        bool // apply updates after a check (opt-in)
	Notify           bool // desktop notification for new updates
}

// Bridge is the [Bridge] group: exporting containers' PackageKit.
type Bridge struct {
	// IdleStop stops a container Kapsule started on demand after this much
	// idle time; 0 keeps it running.
	IdleStop time.Duration
	// KeepLinks keeps an idle link to a container's PackageKit open this
	// long (clients such as pkcon give their first transaction 1.5 s);
	// after that it is closed, so an idle kapsuled has no connections that
	// Incus keeps alive with pings. The next call opens it again.
	KeepLinks time.Duration
}

// setting describes one key: its default and how to apply a value.
type setting struct {
	group, key, def string
	set             func(c *Config, v string) error
}

var settings = []setting{
	{"Containers", "DefaultContainer", "kapsule", func(c *Config, v string) error {
		if v == "" {
			return fmt.Errorf("must not be empty")
		}
		c.Containers.DefaultContainer = v
		return nil
	}},
	{"Containers", "DefaultImage", "images:archlinux", func(c *Config, v string) error {
		if v == "" {
			return fmt.Errorf("must not be empty")
		}
		c.Containers.DefaultImage = v
		return nil
	}},
	{"Updates", "Schedule", "@daily", func(c *Config, v string) error {
		if _, err := ParseSchedule(v); err != nil {
			return err
		}
		c.Updates.Schedule = v
		return nil
	}},
	{"Updates", "StartupDelay", "2m", durationSetter(func(c *Config) *time.Duration { return &c.Updates.StartupDelay })},
	{"Updates", "Jitter", "10m", durationSetter(func(c *Config) *time.Duration { return &c.Updates.Jitter })},
	{"Updates", "MaxConcurrent", "4", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return fmt.Errorf("must be a whole number from 1 to 64")
		}
		c.Updates.MaxConcurrent = n
		return nil
	}},
	{"Updates", "SkipOnMetered", "true", boolSetter(func(c *Config) *bool { return &c.Updates.SkipOnMetered })},
	{"Updates", "MinBattery", "20", func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
		if err != nil || n < 0 || n > 100 {
			return fmt.Errorf("must be a percentage from 0 (no limit) to 100")
		}
		c.Updates.MinBattery = n
		return nil
	}},
	{"Updates", "SkipOnPowerSaver", "true", boolSetter(func(c *Config) *bool { return &c.Updates.SkipOnPowerSaver })},
	{"Updates", "AutoApply", "false", boolSetter(func(c *Config) *bool { return &c.Updates.AutoApply })},
	{"Updates", "Notify", "true", boolSetter(func(c *Config) *bool { return &c.Updates.Notify })},
	{"Bridge", "IdleStop", "10m", durationSetter(func(c *Config) *time.Duration { return &c.Bridge.IdleStop })},
	{"Bridge", "KeepLinks", "5m", durationSetter(func(c *Config) *time.Duration { return &c.Bridge.KeepLinks })},
}

func boolSetter(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		switch strings.ToLower(v) {
		case "true", "1", "yes", "on":
			*field(c) = true
		case "false", "0", "no", "off":
			*field(c) = false
		default:
			return fmt.Errorf("must be true or false")
		}
		return nil
	}
}

func durationSetter(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := ParseDuration(v)
		if err != nil {
			return err
		}
		*field(c) = d
		return nil
	}
}

// ParseDuration accepts Go durations (90s, 5m, 1h30m) and plain seconds.
func ParseDuration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("must be a duration like 90s, 10m or 1h")
	}
	return d, nil
}

// ParseSchedule parses a schedule: a five-field cron spec ("0 12 * * *")
// or a descriptor (@daily, @hourly, @weekly, @every 6h).
func ParseSchedule(v string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(v)
	if err != nil {
		return nil, fmt.Errorf("not a schedule (use a cron spec like \"0 12 * * *\", or @daily, @weekly, @every 6h): %v", err)
	}
	if every, ok := s.(cron.ConstantDelaySchedule); ok && every.Delay < time.Minute {
		return nil, fmt.Errorf("@every must be at least 1m")
	}
	return s, nil
}

// Load reads the kapsulerc cascade for the environment (os.Getenv).
func Load() *Config {
	return LoadFiles(Files(os.Getenv))
}

// LoadFiles reads the given files, lowest priority first.
func LoadFiles(files []string) *Config {
	raw, problems := Read(files)
	c := &Config{Problems: problems}
	known := map[string]map[string]bool{}
	for _, s := range settings {
		if err := s.set(c, s.def); err != nil {
			panic(fmt.Sprintf("kapsulerc: built-in default [%s] %s=%s: %v", s.group, s.key, s.def, err))
		}
		eff := Value{Group: s.group, Key: s.key, Value: s.def, Source: BuiltIn}
		// Apply every layer in order; a bad value keeps the one below it.
		for _, v := range raw[s.group][s.key] {
			if err := s.set(c, v.Value); err != nil {
				c.Problems = append(c.Problems, Problem{Source: v.Source, Group: s.group, Key: s.key, Value: v.Value, Err: err})
				continue
			}
			eff = v
		}
		c.Values = append(c.Values, eff)
		if known[s.group] == nil {
			known[s.group] = map[string]bool{}
		}
		known[s.group][s.key] = true
	}
	for _, v := range raw.Sorted() {
		if !known[v.Group][v.Key] {
			c.Problems = append(c.Problems, Problem{Source: v.Source, Group: v.Group, Key: v.Key, Value: v.Value, Err: fmt.Errorf("unknown setting")})
		}
	}
	return c
}

// Lookup returns the effective value of group/key.
func (c *Config) Lookup(group, key string) (Value, bool) {
	for _, v := range c.Values {
		if strings.EqualFold(v.Group, group) && strings.EqualFold(v.Key, key) {
			return v, true
		}
	}
	return Value{}, false
}
