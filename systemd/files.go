package systemd

import (
	_ "embed"
	"strings"
)

//go:embed kapsuled.service.in
var unitTemplate string

//go:embed org.kde.kapsule.service.in
var activationTemplate string

// Unit returns kapsuled.service for binaries installed in bindir.
func Unit(bindir string) string { return strings.ReplaceAll(unitTemplate, "@BINDIR@", bindir) }

// ActivationFile returns the session D-Bus activation file for
// org.kde.kapsule, for binaries installed in bindir.
func ActivationFile(bindir string) string {
	return strings.ReplaceAll(activationTemplate, "@BINDIR@", bindir)
}
