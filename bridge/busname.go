package bridge

import (
	"fmt"
	"strings"
)

// PackageKitBusNamePrefix starts the session-bus name under which a
// container's PackageKit is exported; the container's name element follows.
const PackageKitBusNamePrefix = "org.kde.kapsule.PackageKit."

// ContainerBusNameElement maps an Incus container name to one element of a
// D-Bus bus name.
//
// Container names follow Incus' rules: 1 to 63 ASCII letters, digits and
// '-', not starting with a digit or '-', not ending with '-'. Letters and
// digits are kept as they are (bus names are case-sensitive, like container
// names) and each '-' becomes '_'. The result is a valid bus-name element
// ([A-Za-z_][A-Za-z0-9_]*, at most 63 bytes) and never contains '.', '/' or
// anything else that could reach into another element or a path. Since '_'
// cannot occur in a container name, the mapping is one-to-one and
// ContainerFromBusNameElement reverses it. Any other input is refused.
func ContainerBusNameElement(container string) (string, error) {
	if err := checkContainerName(container); err != nil {
		return "", err
	}
	return strings.ReplaceAll(container, "-", "_"), nil
}

// ContainerFromBusNameElement reverses ContainerBusNameElement.
func ContainerFromBusNameElement(element string) (string, error) {
	if strings.Contains(element, "-") {
		return "", fmt.Errorf("bus name element %q: not made by ContainerBusNameElement", element)
	}
	container := strings.ReplaceAll(element, "_", "-")
	if err := checkContainerName(container); err != nil {
		return "", fmt.Errorf("bus name element %q: %w", element, err)
	}
	return container, nil
}

// PackageKitBusName returns the session-bus name of a container's PackageKit,
// e.g. "org.kde.kapsule.PackageKit.my_box" for container "my-box".
func PackageKitBusName(container string) (string, error) {
	elem, err := ContainerBusNameElement(container)
	if err != nil {
		return "", err
	}
	return PackageKitBusNamePrefix + elem, nil
}

// ContainerFromPackageKitBusName returns the container whose PackageKit is
// exported under name, or false when name is not such a name.
func ContainerFromPackageKitBusName(name string) (string, bool) {
	elem, ok := strings.CutPrefix(name, PackageKitBusNamePrefix)
	if !ok {
		return "", false
	}
	c, err := ContainerFromBusNameElement(elem)
	return c, err == nil
}

func checkContainerName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("container name is empty")
	case len(name) > 63:
		return fmt.Errorf("container name %q is longer than 63 characters", name)
	case name[0] == '-' || isDigit(name[0]):
		return fmt.Errorf("container name %q starts with %q", name, name[0])
	case name[len(name)-1] == '-':
		return fmt.Errorf("container name %q ends with '-'", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isDigit(c) && !isLetter(c) && c != '-' {
			return fmt.Errorf("container name %q contains %q: only letters, digits and '-' are allowed", name, c)
		}
	}
	return nil
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// checkBusName checks a well-known bus name.
func checkBusName(name string) error {
	if name == "" || len(name) > 255 || name[0] == ':' {
		return fmt.Errorf("invalid bus name %q", name)
	}
	elems := strings.Split(name, ".")
	if len(elems) < 2 {
		return fmt.Errorf("invalid bus name %q: needs at least two elements", name)
	}
	for _, e := range elems {
		if e == "" || isDigit(e[0]) {
			return fmt.Errorf("invalid bus name %q", name)
		}
		for i := 0; i < len(e); i++ {
			if c := e[i]; !isLetter(c) && !isDigit(c) && c != '_' && c != '-' {
				return fmt.Errorf("invalid bus name %q", name)
			}
		}
	}
	return nil
}
