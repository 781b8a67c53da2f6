// Package bridge is what Kapsule exports on the session bus: each
// container's PackageKit under a name of its own (Forwarder, see
// PackageKitBusName), and Kapsule's manager objects.
package bridge
