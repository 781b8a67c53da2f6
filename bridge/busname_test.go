package bridge

import (
	"regexp"
	"strings"
	"testing"
)

func TestPackageKitBusName(t *testing.T) {
	t.Parallel()
	for container, want := range map[string]string{
		"dev":      "org.kde.kapsule.PackageKit.dev",
		"my-box":   "org.kde.kapsule.PackageKit.my_box",
		"Arch2024": "org.kde.kapsule.PackageKit.Arch2024",
		"a":        "org.kde.kapsule.PackageKit.a",
		"a-b-c-1":  "org.kde.kapsule.PackageKit.a_b_c_1",
	} {
		got, err := PackageKitBusName(container)
		if err != nil || got != want {
			t.Errorf("PackageKitBusName(%q) = %q, %v; want %q", container, got, err, want)
		}
		back, ok := ContainerFromPackageKitBusName(got)
		if !ok || back != container {
			t.Errorf("ContainerFromPackageKitBusName(%q) = %q, %v", got, back, ok)
		}
	}
	for _, bad := range []string{"", "-dev", "dev-", "1dev", "d.ev", "d_ev", "dev/x", "dév", "d ev", "a:b",
		strings.Repeat("a", 64), "dev\x00"} {
		if got, err := PackageKitBusName(bad); err == nil {
			t.Errorf("PackageKitBusName(%q) = %q, want an error", bad, got)
		}
	}
	for _, bad := range []string{"org.kde.kapsule.PackageKit.a-b", "org.kde.kapsule.PackageKit._x", "org.kde.kapsule.PackageKit.", "org.freedesktop.PackageKit"} {
		if c, ok := ContainerFromPackageKitBusName(bad); ok {
			t.Errorf("ContainerFromPackageKitBusName(%q) = %q", bad, c)
		}
	}
	if _, err := ContainerBusNameElement(strings.Repeat("a", 63)); err != nil {
		t.Errorf("63 characters refused: %v", err)
	}
}

// Independent statements of the two rule sets.
var (
	incusName      = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	busNameElement = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func FuzzContainerBusNameElement(f *testing.F) {
	for _, s := range []string{"dev", "my-box", "-x", "x-", "9a", "a.b", "a_b", "a/b", "", "é", strings.Repeat("z", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, container string) {
		elem, err := ContainerBusNameElement(container)
		if valid := incusName.MatchString(container); valid != (err == nil) {
			t.Fatalf("ContainerBusNameElement(%q): err %v, but valid Incus name: %v", container, err, valid)
		}
		if err != nil {
			return
		}
		if !busNameElement.MatchString(elem) || len(elem) > 63 {
			t.Fatalf("%q maps to %q, not a bus name element", container, elem)
		}
		name, err := PackageKitBusName(container)
		if err != nil || checkBusName(name) != nil || strings.Count(name, ".") != 4 {
			t.Fatalf("%q maps to bus name %q (%v)", container, name, err)
		}
		back, err := ContainerFromBusNameElement(elem)
		if err != nil || back != container {
			t.Fatalf("%q → %q → %q, %v", container, elem, back, err)
		}
	})
}
