#!/bin/bash
# Runs incus-user, Incus's per-user socket ($INCUS_USER_SOCKET), and a
# second test user, $TESTBED_RESTRICTED_USER (uid $TESTBED_RESTRICTED_UID),
# who reaches Incus only through it: a member of group incus but not of
# incus-admin, with its own XDG_RUNTIME_DIR and session bus. Writes the
# user's facts to $TESTBED_STATE/env (KAPSULE_TESTBED_RESTRICTED_*).
#
# incus-user cannot configure itself on these machines: it creates bridges
# with an automatic subnet, and Incus finds a free subnet by probing
# candidates (ping, TCP port 22 of the .1 address); behind the machines'
# transparent proxy every TCP connect succeeds, so every subnet looks taken
# ("Failed to automatically find an unused IPv4 subnet, manual configuration
# required"). So this script creates, with explicit subnets, the two bridges
# incus-user would:
#   incusbr0      without it (and the pool "default") incus-user runs its
#                 initial configuration at start, and fails
#   incusbr-UID   the user's bridge; incus-user accepts one that exists
#                 (Incus 6.0 and later)
# Everything else incus-user does itself, with its own code, on the user's
# first connection, which this script makes: the restricted project
# user-UID, the client certificate in /var/lib/incus/users/UID trusted for
# that project only, and the project's default profile (root disk, eth0 on
# incusbr-UID, raw.idmap of the user's uid and gid). Then it checks that.
#
# testbed/incus-user.sh --reset first removes what incus-user made for the
# user (and the user's test containers), then sets it up afresh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/accounts.sh"
need_root
mkdir -p "$TESTBED_LOG"

ruser=$TESTBED_RESTRICTED_USER
ruid=$TESTBED_RESTRICTED_UID
project=$TESTBED_RESTRICTED_PROJECT
bridge=incusbr-$ruid
users_dir=$(dirname "$INCUS_SOCKET")/users/$ruid
# Addresses of the bridges: private, unused on the test machines, no NAT
# (nothing leaves the machine) and no IPv6 (no router advertisements).
INCUSBR0_ADDRESS=10.123.0.1/24
USER_BRIDGE_ADDRESS=10.123.1.1/24

# ensure_bridge NAME ADDRESS DESCRIPTION: a managed bridge with an explicit
# subnet. Its DHCP and DNS come from dnsmasq (packages.sh installs it, as
# Incus's packages recommend).
ensure_bridge() {
	local name=$1 address=$2 description=$3
	if incus network show "$name" >/dev/null 2>&1; then return; fi
	log "creating bridge $name ($address)"
	incus network create "$name" --description "$description" \
		ipv4.address="$address" ipv4.nat=false ipv6.address=none >/dev/null
}

incus_user_pid() { pgrep -x incus-user || true; }

stop_incus_user() {
	local pid
	pid=$(incus_user_pid)
	[ -n "$pid" ] || return 0
	log "stopping incus-user ($pid)"
	kill "$pid"
	for _ in $(seq 1 40); do [ -z "$(incus_user_pid)" ] && return; sleep 0.1; done
	die "incus-user ($pid) did not stop"
}

start_incus_user() {
	# incus-user reads the list of projects once, at start, and sets a
	# user up only when the user's project is not in it: after the project
	# went away (--reset, a new incusd database) it must start again.
	if [ -n "$(incus_user_pid)" ] && ! incus project show "$project" >/dev/null 2>&1; then
		stop_incus_user
	fi
	if [ -n "$(incus_user_pid)" ]; then return; fi
	log "starting incus-user"
	rm -f "$INCUS_USER_SOCKET"
	setsid /usr/libexec/incus/incus-user --group incus \
		</dev/null >>"$TESTBED_LOG/incus-user.log" 2>&1 &
	for _ in $(seq 1 100); do
		[ -S "$INCUS_USER_SOCKET" ] && return
		[ -n "$(incus_user_pid)" ] || break
		sleep 0.1
	done
	tail -3 "$TESTBED_LOG/incus-user.log" >&2
	die "incus-user did not start; see $TESTBED_LOG/incus-user.log"
}

# cert_fingerprint is Incus's fingerprint of the user's client certificate.
cert_fingerprint() {
	openssl x509 -in "$users_dir/client.crt" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f'
}

# reset removes what incus-user made for the user, so that the next
# connection sets the user up from scratch. Only the test bed's own
# containers (testbed.Name: kt-*) are deleted; any other stops the reset.
reset() {
	local inst others
	if incus project show "$project" >/dev/null 2>&1; then
		others=$(incus list --project "$project" --format csv -c n | grep -v '^kt-' || true)
		[ -z "$others" ] || die "project $project holds containers the test bed did not make: $others"
		for inst in $(incus list --project "$project" --format csv -c n); do
			incus delete --force --project "$project" "$inst"
		done
		for inst in $(incus image list --project "$project" --format csv -c f); do
			incus image delete --project "$project" "$inst"
		done
		# The default profile cannot be deleted; emptied, the project can.
		incus profile edit default --project "$project" <<<'{"config": {}, "devices": {}}'
		incus project delete "$project" >/dev/null
	fi
	if [ -f "$users_dir/client.crt" ]; then
		incus config trust remove "$(cert_fingerprint)" 2>/dev/null || true
	fi
	rm -rf "$users_dir"
	incus network delete "$bridge" >/dev/null 2>&1 || true
	stop_incus_user
	log "reset the Incus set-up of $ruser"
}

# check_setup verifies what incus-user made for the user.
check_setup() {
	[ "$(incus project get "$project" restricted 2>/dev/null)" = true ] ||
		die "incus-user did not create the restricted project $project; see $TESTBED_LOG/incus-user.log"
	incus query "/1.0/certificates/$(cert_fingerprint)" 2>/dev/null | grep -q "\"$project\"" ||
		die "the certificate in $users_dir is not trusted for $project; run '$0 --reset'"
	[ "$(incus profile device get default eth0 network --project "$project")" = "$bridge" ] ||
		die "the default profile of $project has no eth0 on $bridge; run '$0 --reset'"
	incus profile get default raw.idmap --project "$project" | grep -q "^uid $ruid $ruid\$" ||
		die "the default profile of $project does not map uid $ruid (raw.idmap); check /etc/subuid, then run '$0 --reset'"
}

if [ "${1:-}" = --reset ]; then reset; fi

ensure_user "$ruser" "$ruid" incus
if in_group "$ruser" incus-admin; then
	log "removing $ruser from incus-admin (it must reach Incus through incus-user)"
	gpasswd -d "$ruser" incus-admin >/dev/null
fi
rgid=$(id -g "$ruser")
home=$(getent passwd "$ruser" | cut -d: -f6)
# Before the user's first connection: incus-user adds raw.idmap to the
# project's profile only when root may map the user's ids.
root_may_map "$ruid" "$rgid"
ensure_session_bus "$ruser"

ensure_bridge incusbr0 "$INCUSBR0_ADDRESS" ""
ensure_bridge "$bridge" "$USER_BRIDGE_ADDRESS" "Network for user restricted project $project"
start_incus_user
# The user's first connection: incus-user sets the user up, then relays.
out=$(as_user "$ruser" incus query /1.0 2>&1 >/dev/null) ||
	die "$ruser cannot reach Incus through $INCUS_USER_SOCKET: $out (see $TESTBED_LOG/incus-user.log)"
check_setup

env_set <<ENV
KAPSULE_TESTBED_RESTRICTED_USER=$ruser
KAPSULE_TESTBED_RESTRICTED_UID=$ruid
KAPSULE_TESTBED_RESTRICTED_GID=$rgid
KAPSULE_TESTBED_RESTRICTED_HOME=$home
KAPSULE_TESTBED_RESTRICTED_RUNTIME_DIR=/run/user/$ruid
KAPSULE_TESTBED_RESTRICTED_SESSION_BUS=unix:path=/run/user/$ruid/bus
KAPSULE_TESTBED_RESTRICTED_PROJECT=$project
KAPSULE_TESTBED_RESTRICTED_INCUS_SOCKET=$INCUS_USER_SOCKET
ENV
log "restricted user $ruser ok (project $project, socket $INCUS_USER_SOCKET)"
