package lifecycle

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Options are the settings a container is created with. They are recorded
// on the instance (user.kapsule.options) so that a reset replays them
// exactly. JSON names are the option keys of the create schema.
type Options struct {
	Image         string   `json:"image"`
	MountHome     bool     `json:"mount_home"`
	HostRootfs    bool     `json:"host_rootfs"`
	CustomMounts  []string `json:"custom_mounts"`
	Wayland       bool     `json:"wayland"`
	X11           bool     `json:"x11"`
	PipeWire      bool     `json:"pipewire"`
	PulseAudio    bool     `json:"pulseaudio"`
	SessionBus    bool     `json:"session_bus"`
	GPU           bool     `json:"gpu"`
	NvidiaDrivers bool     `json:"nvidia_drivers"`
	Nesting       bool     `json:"nesting"`
	Privileged    bool     `json:"privileged"`
	HostNetwork   bool     `json:"host_network"`
	CPU           string   `json:"cpu"`
	Memory        string   `json:"memory"`
}

// OptionSpec describes one create option for a form (the KCM) or a CLI.
type OptionSpec struct {
	Key         string         `json:"key"`
	Type        string         `json:"type"` // boolean, string, array
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Default     any            `json:"default"`
	Items       *ItemSpec      `json:"items,omitempty"`
	Requires    map[string]any `json:"requires,omitempty"`
	// Example is a sample value for string options (shown as a placeholder).
	Example string `json:"example,omitempty"`
}

// ItemSpec describes the elements of an array option.
type ItemSpec struct {
	Type   string `json:"type"`
	Format string `json:"format,omitempty"`
}

// SchemaSection groups options under a title, in UI order.
type SchemaSection struct {
	ID      string       `json:"id"`
	Title   string       `json:"title"`
	Options []OptionSpec `json:"options"`
}

// Schema is what GetCreateSchema returns (as JSON).
type Schema struct {
	Version  int             `json:"version"`
	Sections []SchemaSection `json:"sections"`
}

// CreateSchema returns the create options in order, with the defaults
// given (the image default comes from the configuration).
func CreateSchema(defaultImage string) Schema {
	d := DefaultOptions(defaultImage)
	return Schema{Version: 1, Sections: []SchemaSection{
		{ID: "image", Title: "Image", Options: []OptionSpec{
			{Key: "image", Type: "string", Title: "Image", Default: d.Image, Example: "images:debian/12",
				Description: "Image to create the container from: a local alias, or server:alias"},
		}},
		{ID: "mounts", Title: "Host Mounts", Options: []OptionSpec{
			{Key: "mount_home", Type: "boolean", Title: "Mount Home Directory", Default: d.MountHome,
				Description: "Your home directory, at the same path, with your files and ownership"},
			{Key: "host_rootfs", Type: "boolean", Title: "Mount Host Filesystem", Default: d.HostRootfs,
				Description: "The host's / at /.kapsule/host"},
			{Key: "custom_mounts", Type: "array", Title: "Additional Mounts", Default: []string{},
				Items:       &ItemSpec{Type: "string", Format: "directory-path"},
				Description: "Extra host directories, mounted at the same path"},
		}},
		{ID: "desktop", Title: "Desktop Integration", Options: []OptionSpec{
			{Key: "wayland", Type: "boolean", Title: "Wayland", Default: d.Wayland,
				Description: "Graphical applications through the host's Wayland compositor"},
			{Key: "x11", Type: "boolean", Title: "X11", Default: d.X11,
				Description: "Graphical applications through the host's X server (Xwayland)"},
			{Key: "pipewire", Type: "boolean", Title: "PipeWire", Default: d.PipeWire,
				Description: "Audio and screen sharing through the host's PipeWire"},
			{Key: "pulseaudio", Type: "boolean", Title: "PulseAudio", Default: d.PulseAudio,
				Description: "Audio through the host's PulseAudio socket (pipewire-pulse)"},
			{Key: "session_bus", Type: "boolean", Title: "Session Bus", Default: d.SessionBus,
				Description: "Your D-Bus session bus (notifications, portals, KDE services)"},
		}},
		{ID: "gpu", Title: "GPU", Options: []OptionSpec{
			{Key: "gpu", Type: "boolean", Title: "GPU Passthrough", Default: d.GPU,
				Description: "The host's GPUs (skipped with a notice when the host has none)"},
			{Key: "nvidia_drivers", Type: "boolean", Title: "NVIDIA Drivers", Default: d.NvidiaDrivers,
				Requires:    map[string]any{"gpu": true},
				Description: "Inject the host's NVIDIA userspace drivers (needs nvidia-container-cli on the host)"},
		}},
		{ID: "isolation", Title: "Isolation", Options: []OptionSpec{
			{Key: "nesting", Type: "boolean", Title: "Nested Containers", Default: d.Nesting,
				Description: "Run docker and podman inside the container"},
			{Key: "privileged", Type: "boolean", Title: "Privileged", Default: d.Privileged,
				Description: "Container root is host root; needed by some nested setups (not allowed in per-user Incus projects)"},
			{Key: "host_network", Type: "boolean", Title: "Host Network", Default: d.HostNetwork,
				Description: "Share the host's network; where Incus refuses it, the default profile's network is used and said so"},
		}},
		{ID: "limits", Title: "Resource Limits", Options: []OptionSpec{
			{Key: "cpu", Type: "string", Title: "CPU Limit", Default: d.CPU, Example: "4 or 0-3",
				Description: "Number of CPUs, or a CPU set; empty means no limit"},
			{Key: "memory", Type: "string", Title: "Memory Limit", Default: d.Memory, Example: "8GiB or 50%",
				Description: "Memory limit; empty means no limit"},
		}},
	}}
}

// DefaultOptions are the options of a container created with no options.
func DefaultOptions(defaultImage string) Options {
	return Options{
		Image:        defaultImage,
		MountHome:    true,
		CustomMounts: []string{},
		Wayland:      true,
		X11:          true,
		PipeWire:     true,
		PulseAudio:   true,
		SessionBus:   true,
		GPU:          true,
		Nesting:      true,
		HostNetwork:  true,
	}
}

// optionField maps option keys to fields of Options.
var optionField = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeOf(Options{})
	for i := 0; i < t.NumField(); i++ {
		m[t.Field(i).Tag.Get("json")] = i
	}
	return m
}()

// OptionKeys lists the valid option keys, sorted.
func OptionKeys() []string {
	keys := make([]string, 0, len(optionField))
	for k := range optionField {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParseOptions applies raw option values (as they arrive from D-Bus or a
// CLI: bool, string, []string, []any of strings, integers for cpu) over
// base, then checks the result. Unknown keys and wrong types are errors
// that name the key.
func ParseOptions(base Options, raw map[string]any) (Options, error) {
	o := base
	o.CustomMounts = append([]string{}, base.CustomMounts...)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	v := reflect.ValueOf(&o).Elem()
	for _, k := range keys {
		i, ok := optionField[k]
		if !ok {
			return Options{}, fmt.Errorf("%w: unknown option %s (known options: %s)", ErrInvalidArgument, QuoteInput(k), strings.Join(OptionKeys(), ", "))
		}
		f := v.Field(i)
		if err := setOption(f, k, raw[k]); err != nil {
			return Options{}, err
		}
	}
	if err := o.Validate(); err != nil {
		return Options{}, err
	}
	return o, nil
}

func setOption(f reflect.Value, key string, val any) error {
	wrong := func(want string) error {
		return fmt.Errorf("%w: option %q must be %s, not %T", ErrInvalidArgument, key, want, val)
	}
	switch f.Kind() {
	case reflect.Bool:
		b, ok := val.(bool)
		if !ok {
			return wrong("a boolean")
		}
		f.SetBool(b)
	case reflect.String:
		switch s := val.(type) {
		case string:
			f.SetString(s)
		case int32, int64, uint32, uint64, int, int16, uint16, uint8:
			if key != "cpu" {
				return wrong("a string")
			}
			f.SetString(fmt.Sprint(s))
		case float64: // JSON numbers
			if key != "cpu" || s != math.Trunc(s) {
				return wrong("a string")
			}
			f.SetString(strconv.FormatFloat(s, 'f', 0, 64))
		default:
			return wrong("a string")
		}
	case reflect.Slice:
		var list []string
		switch s := val.(type) {
		case []string:
			list = append(list, s...)
		case []any:
			for i, e := range s {
				str, ok := e.(string)
				if !ok {
					return fmt.Errorf("%w: option %q must be a list of strings; element %d is %T", ErrInvalidArgument, key, i, e)
				}
				list = append(list, str)
			}
		default:
			return wrong("a list of strings")
		}
		if list == nil {
			list = []string{}
		}
		f.Set(reflect.ValueOf(list))
	}
	return nil
}

var (
	cpuPattern = regexp.MustCompile(`^([1-9][0-9]{0,3}|[0-9]{1,4}(-[0-9]{1,4})?(,[0-9]{1,4}(-[0-9]{1,4})?)*)$`)
	// Lengths are checked apart (validImage): a counted repetition this
	// long costs every process that links this package milliseconds at
	// start.
	imagePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/@+-]*(:[A-Za-z0-9._/@+-]+)?$`)
	memoryPattern = regexp.MustCompile(`^([1-9][0-9]{0,14}(B|kB|MB|GB|TB|KiB|MiB|GiB|TiB)?|([1-9][0-9]?|100)%)$`)
)

// validImage accepts "alias" or "server:alias", each part at most 255
// characters.
func validImage(s string) bool {
	server, alias, _ := strings.Cut(s, ":")
	return len(server) <= 255 && len(alias) <= 255 && imagePattern.MatchString(s)
}

// Validate checks values and the dependencies between options.
func (o Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
	}
	if o.Image != "" && !validImage(o.Image) {
		return bad("option \"image\": %s is not an image reference like images:debian/12 or a local alias", QuoteInput(o.Image))
	}
	if o.NvidiaDrivers && !o.GPU {
		return bad("option \"nvidia_drivers\" requires \"gpu\" to be enabled")
	}
	if o.CPU != "" && !cpuPattern.MatchString(o.CPU) {
		return bad("option \"cpu\": %s is neither a number of CPUs (e.g. 4) nor a CPU set (e.g. 0-3 or 0,2)", QuoteInput(o.CPU))
	}
	if o.Memory != "" && !memoryPattern.MatchString(o.Memory) {
		return bad("option \"memory\": %s is not a size like 8GiB or a percentage like 50%%", QuoteInput(o.Memory))
	}
	seen := map[string]bool{}
	for _, m := range o.CustomMounts {
		switch {
		case m == "":
			return bad("option \"custom_mounts\": empty path")
		case !filepath.IsAbs(m) && !strings.HasPrefix(m, "~/"):
			return bad("option \"custom_mounts\": %s is not an absolute path (or ~/...)", QuoteInput(m))
		case !utf8.ValidString(m) || strings.IndexFunc(m, unicode.IsControl) >= 0:
			return bad("option \"custom_mounts\": %s contains a control character or invalid UTF-8", QuoteInput(m))
		case filepath.Clean(m) == "/":
			return bad("option \"custom_mounts\": mounting / is what \"host_rootfs\" does")
		case seen[filepath.Clean(m)]:
			return bad("option \"custom_mounts\": %s is listed twice", QuoteInput(m))
		}
		for _, part := range strings.Split(m, "/") {
			if part == ".." {
				return bad("option \"custom_mounts\": %s contains '..'", QuoteInput(m))
			}
		}
		seen[filepath.Clean(m)] = true
	}
	return nil
}

// MarshalRecord encodes options for user.kapsule.options.
func (o Options) MarshalRecord() string {
	if o.CustomMounts == nil {
		o.CustomMounts = []string{}
	}
	b, _ := json.Marshal(o) // cannot fail: only strings, bools, []string
	return string(b)
}

// UnmarshalRecord decodes user.kapsule.options. Keys missing from an older
// record keep their defaults.
func UnmarshalRecord(s string, defaults Options) (Options, error) {
	o := defaults
	if err := json.Unmarshal([]byte(s), &o); err != nil {
		return Options{}, fmt.Errorf("recorded options: %w", err)
	}
	if o.CustomMounts == nil {
		o.CustomMounts = []string{}
	}
	return o, nil
}

// Map returns the options as a key -> value map (for D-Bus a{sv}).
func (o Options) Map() map[string]any {
	m := map[string]any{}
	v := reflect.ValueOf(o)
	for k, i := range optionField {
		m[k] = v.Field(i).Interface()
	}
	if o.CustomMounts == nil {
		m["custom_mounts"] = []string{}
	}
	return m
}
