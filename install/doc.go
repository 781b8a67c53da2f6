// Package install holds the tests of `make install` and `make uninstall`:
// they install into temporary directories as an ordinary user and check
// the tree file by file (binaries, the kapsule alias, the systemd user
// unit, the D-Bus activation and interface files, shell completions, the
// kapsulerc defaults), run `systemd-analyze verify` on the installed unit,
// have a private dbus-daemon read the installed activation file, and check
// that uninstall removes exactly what install put there. The package has
// no code of its own.
package install
