package lifecycle

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSchemaCoversEveryOptionInOrderWithDefaults(t *testing.T) {
	t.Parallel()
	s := CreateSchema("images:debian/12")
	defaults := DefaultOptions("images:debian/12").Map()
	seen := map[string]bool{}
	for _, sec := range s.Sections {
		for _, o := range sec.Options {
			if seen[o.Key] {
				t.Errorf("option %q appears twice", o.Key)
			}
			seen[o.Key] = true
			if o.Title == "" || o.Description == "" {
				t.Errorf("option %q lacks a title or description", o.Key)
			}
			want, ok := defaults[o.Key]
			if !ok {
				t.Errorf("schema option %q is not an Options field", o.Key)
				continue
			}
			if !reflect.DeepEqual(o.Default, want) {
				t.Errorf("option %q: schema default %#v, DefaultOptions %#v", o.Key, o.Default, want)
			}
			for req := range o.Requires {
				if _, ok := defaults[req]; !ok {
					t.Errorf("option %q requires unknown option %q", o.Key, req)
				}
			}
		}
	}
	for _, k := range OptionKeys() {
		if !seen[k] {
			t.Errorf("option %q is missing from the schema", k)
		}
	}
	if _, err := json.Marshal(s); err != nil {
		t.Fatal(err)
	}
}

func TestParseOptions(t *testing.T) {
	t.Parallel()
	base := DefaultOptions("local:dev")
	tests := map[string]struct {
		raw     map[string]any
		check   func(t *testing.T, o Options)
		wantErr string
	}{
		"no options gives the defaults": {
			raw:   nil,
			check: func(t *testing.T, o Options) { eq(t, o, base) },
		},
		"booleans and lists": {
			raw: map[string]any{"gpu": false, "custom_mounts": []string{"/srv/data", "~/src"}},
			check: func(t *testing.T, o Options) {
				if o.GPU || !reflect.DeepEqual(o.CustomMounts, []string{"/srv/data", "~/src"}) {
					t.Errorf("got %+v", o)
				}
			},
		},
		"list of variants from D-Bus av": {
			raw: map[string]any{"custom_mounts": []any{"/a", "/b"}},
			check: func(t *testing.T, o Options) {
				if !reflect.DeepEqual(o.CustomMounts, []string{"/a", "/b"}) {
					t.Errorf("got %v", o.CustomMounts)
				}
			},
		},
		"cpu as an integer": {
			raw:   map[string]any{"cpu": int32(4)},
			check: func(t *testing.T, o Options) { eq(t, o.CPU, "4") },
		},
		"cpu as a set":             {raw: map[string]any{"cpu": "0-3,6"}, check: func(t *testing.T, o Options) { eq(t, o.CPU, "0-3,6") }},
		"memory as a size":         {raw: map[string]any{"memory": "8GiB"}, check: func(t *testing.T, o Options) { eq(t, o.Memory, "8GiB") }},
		"memory as a percent":      {raw: map[string]any{"memory": "50%"}, check: func(t *testing.T, o Options) { eq(t, o.Memory, "50%") }},
		"unknown key":              {raw: map[string]any{"gpus": true}, wantErr: `unknown option "gpus"`},
		"wrong type bool":          {raw: map[string]any{"nesting": "yes"}, wantErr: `option "nesting" must be a boolean, not string`},
		"wrong type string":        {raw: map[string]any{"memory": int32(8)}, wantErr: `option "memory" must be a string`},
		"wrong list element":       {raw: map[string]any{"custom_mounts": []any{"/a", int32(1)}}, wantErr: `element 1 is int32`},
		"list given a string":      {raw: map[string]any{"custom_mounts": "/a"}, wantErr: `must be a list of strings`},
		"nvidia without gpu":       {raw: map[string]any{"gpu": false, "nvidia_drivers": true}, wantErr: `"nvidia_drivers" requires "gpu"`},
		"bad cpu":                  {raw: map[string]any{"cpu": "lots"}, wantErr: `option "cpu"`},
		"bad memory":               {raw: map[string]any{"memory": "8 GB"}, wantErr: `option "memory"`},
		"relative mount":           {raw: map[string]any{"custom_mounts": []string{"src"}}, wantErr: `not an absolute path`},
		"root mount":               {raw: map[string]any{"custom_mounts": []string{"/"}}, wantErr: `host_rootfs`},
		"dotdot mount":             {raw: map[string]any{"custom_mounts": []string{"/srv/../etc"}}, wantErr: `'..'`},
		"duplicate mount":          {raw: map[string]any{"custom_mounts": []string{"/srv", "/srv/"}}, wantErr: `listed twice`},
		"image with a space":       {raw: map[string]any{"image": "debian 12"}, wantErr: `not an image reference`},
		"image with invalid utf-8": {raw: map[string]any{"image": "\xff"}, wantErr: `not an image reference`},
		"image alias of 255":       {raw: map[string]any{"image": "images:" + strings.Repeat("a", 255)}, check: func(t *testing.T, o Options) { eq(t, len(o.Image), 262) }},
		"image alias too long":     {raw: map[string]any{"image": "images:" + strings.Repeat("a", 256)}, wantErr: `not an image reference`},
		"image server too long":    {raw: map[string]any{"image": strings.Repeat("s", 256) + ":a"}, wantErr: `not an image reference`},
		"image with two colons":    {raw: map[string]any{"image": "a:b:c"}, wantErr: `not an image reference`},
		"image with empty alias":   {raw: map[string]any{"image": "images:"}, wantErr: `not an image reference`},
		"remote image":             {raw: map[string]any{"image": "images:debian/12"}, check: func(t *testing.T, o Options) { eq(t, o.Image, "images:debian/12") }},
		"mount with newline":       {raw: map[string]any{"custom_mounts": []string{"/a\nb"}}, wantErr: `control character`},
		"huge string rejected":     {raw: map[string]any{"cpu": strings.Repeat("9", 100000)}, wantErr: `option "cpu"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o, err := ParseOptions(base, tc.raw)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if !errors.Is(err, ErrInvalidArgument) {
					t.Errorf("err %v is not ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}

func TestOptionsRecordRoundTrip(t *testing.T) {
	t.Parallel()
	o := DefaultOptions("kapsule-test/debian-12")
	o.CustomMounts = []string{"/srv/a"}
	o.CPU = "2"
	got, err := UnmarshalRecord(o.MarshalRecord(), DefaultOptions(""))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, got, o)

	// An older record without newer keys keeps the defaults for them.
	old, err := UnmarshalRecord(`{"image":"x","gpu":false}`, DefaultOptions("d"))
	if err != nil {
		t.Fatal(err)
	}
	if old.Image != "x" || old.GPU || !old.Nesting {
		t.Errorf("old record decoded to %+v", old)
	}
	if _, err := UnmarshalRecord(`{`, DefaultOptions("")); err == nil {
		t.Error("truncated record accepted")
	}
}

func eq[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func FuzzParseOptions(f *testing.F) {
	f.Add("cpu", "4", false)
	f.Add("memory", "50%", true)
	f.Add("custom_mounts", "/srv", false)
	f.Add("image", "images:debian/12", false)
	f.Fuzz(func(t *testing.T, key, value string, asList bool) {
		var v any = value
		if asList {
			v = []any{value}
		}
		o, err := ParseOptions(DefaultOptions("x"), map[string]any{key: v})
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("error %v is not ErrInvalidArgument", err)
			}
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("ParseOptions accepted options that do not validate: %v", err)
		}
		back, err := UnmarshalRecord(o.MarshalRecord(), DefaultOptions(""))
		if err != nil || !reflect.DeepEqual(back, o) {
			t.Fatalf("record round trip: %+v -> %+v (%v)", o, back, err)
		}
	})
}
