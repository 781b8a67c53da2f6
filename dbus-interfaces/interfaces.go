// Package interfaces embeds Kapsule's D-Bus contracts: the XML files in
// this folder are the one source of truth, installed to
// /usr/share/dbus-1/interfaces and checked against the exported objects
// by the bridge tests.
package interfaces

import _ "embed"

// Manager is org.kde.kapsule.Manager (object /org/kde/kapsule).
//
//go:embed org.kde.kapsule.Manager.xml
var Manager string

// Operation is org.kde.kapsule.Operation (objects /org/kde/kapsule/operations/N).
//
//go:embed org.kde.kapsule.Operation.xml
var Operation string
