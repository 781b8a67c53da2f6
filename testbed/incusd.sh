#!/bin/bash
# Starts incusd when it is not running, waits for the API, and makes sure
# the default profile has a storage pool and a root disk (incus-user.sh
# starts incus-user).
# There is no systemd as PID 1 on the test machines: the daemons run detached.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root
mkdir -p "$TESTBED_LOG"

start_incusd() {
	if incus_up; then return; fi
	# The daemon itself: its container monitors and helpers are named
	# incusd too, and outlive a killed daemon.
	if pgrep -f '^/usr/libexec/incus/incusd --group' >/dev/null; then
		log "incusd is running but not answering yet; waiting"
	else
		log "starting incusd"
		# lxcfs is optional; incusd works without it.
		setsid /usr/libexec/incus/incusd --group incus-admin \
			--logfile "$TESTBED_LOG/incusd.log" </dev/null >>"$TESTBED_LOG/incusd.out" 2>&1 &
	fi
	for _ in $(seq 1 120); do
		if incus_up; then break; fi
		sleep 0.5
	done
	incus_up || die "incusd did not answer within 60 s; see $TESTBED_LOG/incusd.log"
	incus admin waitready --timeout=60 >/dev/null 2>&1 || true
}

ensure_storage() {
	if ! incus storage show default >/dev/null 2>&1; then
		log "creating storage pool default (dir)"
		incus storage create default dir >/dev/null
	fi
	if ! incus profile device get default root pool >/dev/null 2>&1; then
		log "adding root disk to the default profile"
		incus profile device add default root disk path=/ pool=default >/dev/null
	fi
	# A point-to-point NIC with no bridge behind it: nothing leaves the
	# machine, but the container gets a link on which the image's
	# kapsule-testbed-net unit sets a default route, so PackageKit considers
	# itself online (it refuses to refresh otherwise).
	if ! incus profile device get default eth0 nictype >/dev/null 2>&1; then
		log "adding a p2p eth0 to the default profile"
		incus profile device add default eth0 nic nictype=p2p name=eth0 >/dev/null
	fi
}

# subuid/subgid: let root map the test user's ids into containers, so a home
# bind mount shows the right owner (raw.idmap and the incus-user project rely
# on this). Root also needs a range for unprivileged containers.
ensure_subids() {
	local f
	for f in /etc/subuid /etc/subgid; do
		touch "$f"
		grep -q '^root:1000000:1000000000$' "$f" || echo 'root:1000000:1000000000' >>"$f"
	done
}

ensure_subids
start_incusd
ensure_storage
log "incusd ok ($(incus query /1.0 | sed -n 's/.*"server_version": "\([^"]*\)".*/\1/p'))"
