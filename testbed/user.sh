#!/bin/bash
# Creates the unprivileged test user, a member of incus-admin, with its own
# XDG_RUNTIME_DIR and session bus: the way a desktop user runs Kapsule.
# Writes the facts tests need to $TESTBED_STATE/env.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root

if ! id "$TESTBED_USER" >/dev/null 2>&1; then
	log "creating user $TESTBED_USER ($TESTBED_UID)"
	groupadd -g "$TESTBED_UID" "$TESTBED_USER" 2>/dev/null || true
	useradd -m -u "$TESTBED_UID" -g "$TESTBED_UID" -s /bin/bash "$TESTBED_USER"
fi
uid=$(id -u "$TESTBED_USER"); gid=$(id -g "$TESTBED_USER")
home=$(getent passwd "$TESTBED_USER" | cut -d: -f6)
for g in incus-admin incus; do
	getent group "$g" >/dev/null || groupadd -r "$g"
	id -nG "$TESTBED_USER" | tr ' ' '\n' | grep -qx "$g" || usermod -aG "$g" "$TESTBED_USER"
done

# Let root map the user's own ids into containers (raw.idmap "both U U"),
# so the host home keeps its owner inside. incusd reads these at start.
for f in /etc/subuid /etc/subgid; do
	touch "$f"
	id=$uid; [ "$f" = /etc/subgid ] && id=$gid
	grep -q "^root:$id:1\$" "$f" || echo "root:$id:1" >>"$f"
done

runtime=/run/user/$uid
install -d -m 0700 -o "$uid" -g "$gid" "$runtime"
bus="$runtime/bus"
bus_up() {
	[ -S "$bus" ] && setpriv --reuid="$uid" --regid="$gid" --init-groups \
		env DBUS_SESSION_BUS_ADDRESS="unix:path=$bus" \
		dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.GetId >/dev/null 2>&1
}
if ! bus_up; then
	rm -f "$bus"
	log "starting the session bus of $TESTBED_USER at $bus"
	setpriv --reuid="$uid" --regid="$gid" --init-groups \
		env -i HOME="$home" USER="$TESTBED_USER" XDG_RUNTIME_DIR="$runtime" PATH=/usr/bin:/bin \
		dbus-daemon --session --address="unix:path=$bus" --fork --nopidfile --syslog-only
	for _ in $(seq 1 20); do bus_up && break; sleep 0.1; done
	bus_up || die "the session bus of $TESTBED_USER did not come up"
fi

mkdir -p "$TESTBED_STATE"
cat >"$TESTBED_STATE/env" <<ENV
KAPSULE_TESTBED=1
KAPSULE_TESTBED_USER=$TESTBED_USER
KAPSULE_TESTBED_UID=$uid
KAPSULE_TESTBED_GID=$gid
KAPSULE_TESTBED_HOME=$home
KAPSULE_TESTBED_RUNTIME_DIR=$runtime
KAPSULE_TESTBED_SESSION_BUS=unix:path=$bus
KAPSULE_TESTBED_IMAGE=$TESTBED_IMAGE_ALIAS
KAPSULE_TESTBED_INCUS_SOCKET=$INCUS_SOCKET
ENV
log "user $TESTBED_USER ok (uid $uid, bus $bus)"
