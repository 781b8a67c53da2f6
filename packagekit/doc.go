// Package packagekit speaks the PackageKit D-Bus protocol: its enums and
// bitfields with PackageKit's own numbers and string forms, package IDs, and
// a typed transaction client.
//
// The client works on any *dbus.Conn and any destination name, so the same
// code drives the PackageKit inside a container (through a stream to the
// container's system bus, see Dial and OpenConn) and a per-container name that
// Kapsule exports on the session bus (for example
// "org.kde.kapsule.PackageKit.dev").
//
// A transaction runs exactly one action:
//
//	pk, err := packagekit.NewClient(ctx, conn, packagekit.DefaultDestination)
//	...
//	defer pk.Close()
//	res, err := pk.Run(ctx, packagekit.GetUpdates(packagekit.NoFilter),
//		packagekit.WithProgress(func(p packagekit.Progress) { ... }))
//	for _, u := range res.Packages { fmt.Println(u.ID.Name(), u.ID.Version()) }
//
// Results arrive as signals on the transaction's object path. One dispatcher
// goroutine per Client reads the connection's signals and routes them by
// path to the transaction waiting for them; cancelling the context passed to
// Run cancels the transaction in PackageKit. A failed transaction returns a
// *TransactionError, a refused method call a *MethodError.
package packagekit
