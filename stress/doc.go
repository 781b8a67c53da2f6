// Package stress holds Kapsule's stress tests (build tag stress): faults
// (kapsuled killed mid-operation, incusd restarted under a transaction, a
// container deleted behind Kapsule's back, the session bus lost), load
// through the PackageKit bridge, hostile input, and the security
// boundaries, on the real test bed.
//
// They run as root, because some faults need it (restarting incusd,
// acting as another uid), and start kapsuled and the CLIs as the
// unprivileged test user themselves (testbed.UserSession):
//
//	make stress
//	go test -tags stress -p 1 -count=1 -timeout 40m ./stress/
//
// The test that restarts incusd affects everything on the machine; it
// keeps the outage short and waits until incusd answers again.
package stress
