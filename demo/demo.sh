#!/bin/bash
# make demo: on a fresh Debian 12 machine (root), set up what is missing,
# then show Kapsule doing its main job for a desktop user:
#   - a demo user (kapdemo) with its own session bus, on which kapsuled is
#     D-Bus activatable from an installed copy of Kapsule (/opt/kapsule-demo)
#   - a container with a pending update, created with `kap create`
#   - `kap list`, `kapsule-update check`, `kapsule-update list`, and a stock
#     pkcon talking to the container's PackageKit
# Idempotent; `make demo-clean` removes the demo user, container and install.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/testbed/lib.sh"
need_root

DEMO_USER=${DEMO_USER:-kapdemo}
DEMO_UID=${DEMO_UID:-2100}
DEMO_PREFIX=${DEMO_PREFIX:-/opt/kapsule-demo}
DEMO_CONTAINER=${DEMO_CONTAINER:-demo}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Test bed: packages, incusd, test image (a second run takes seconds)"
"$ROOT/testbed/setup.sh"

step "Build and install Kapsule into $DEMO_PREFIX"
export PATH="$PATH:/usr/local/go/bin"
make -C "$ROOT" --no-print-directory install PREFIX="$DEMO_PREFIX" >/dev/null

step "Demo user $DEMO_USER with a session bus on which org.kde.kapsule is activatable"
if ! id "$DEMO_USER" >/dev/null 2>&1; then
	groupadd -g "$DEMO_UID" "$DEMO_USER" 2>/dev/null || true
	useradd -m -u "$DEMO_UID" -g "$DEMO_UID" -s /bin/bash "$DEMO_USER"
fi
usermod -aG incus-admin "$DEMO_USER"
uid=$(id -u "$DEMO_USER"); gid=$(id -g "$DEMO_USER"); home=$(getent passwd "$DEMO_USER" | cut -d: -f6)
for f in /etc/subuid /etc/subgid; do
	id=$uid; [ "$f" = /etc/subgid ] && id=$gid
	grep -q "^root:$id:1\$" "$f" || echo "root:$id:1" >>"$f"
done
runtime=/run/user/$uid
install -d -m 0700 -o "$uid" -g "$gid" "$runtime"
install -d -m 0755 -o "$uid" -g "$gid" "$home/.config"
cat >"$home/.config/kapsulerc" <<RC
# Written by make demo: containers come from the test image.
[Containers]
DefaultImage=$TESTBED_IMAGE_ALIAS
DefaultContainer=$DEMO_CONTAINER
RC
chown "$uid:$gid" "$home/.config/kapsulerc"

as_demo() {
	setpriv --reuid="$uid" --regid="$gid" --init-groups env -i \
		HOME="$home" USER="$DEMO_USER" LOGNAME="$DEMO_USER" PATH="$DEMO_PREFIX/bin:/usr/bin:/bin" \
		XDG_RUNTIME_DIR="$runtime" DBUS_SESSION_BUS_ADDRESS="unix:path=$runtime/bus" \
		XDG_DATA_DIRS="$DEMO_PREFIX/share:/usr/local/share:/usr/share" LANG=C.UTF-8 TERM="${TERM:-xterm}" "$@"
}
busconf=$DEMO_PREFIX/demo-session.conf
cat >"$busconf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <include>/usr/share/dbus-1/session.conf</include>
  <servicedir>$DEMO_PREFIX/share/dbus-1/services</servicedir>
</busconfig>
CONF
if ! as_demo dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.GetId >/dev/null 2>&1; then
	rm -f "$runtime/bus"
	as_demo dbus-daemon --config-file="$busconf" --address="unix:path=$runtime/bus" --fork --nopidfile --syslog-only
	for _ in $(seq 1 20); do
		as_demo dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.GetId >/dev/null 2>&1 && break
		sleep 0.1
	done
fi
echo "session bus: unix:path=$runtime/bus"
# A kapsuled left from an earlier run runs the binary installed then: stop
# it (as a package upgrade restarts the unit), so the next call activates
# the one just installed.
if pkill -TERM -u "$uid" -x kapsuled; then
	for _ in $(seq 1 50); do
		pgrep -u "$uid" -x kapsuled >/dev/null || break
		sleep 0.1
	done
	echo "stopped the demo user's kapsuled from an earlier run"
fi
echo "activatable: $(as_demo dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.ListActivatableNames | grep -o '"org.kde.kapsule"' || echo 'org.kde.kapsule MISSING')"

run() { printf '\n$ %s\n' "$*"; as_demo "$@"; }

step "The first call activates kapsuled; the container is created with progress"
if ! as_demo kap info "$DEMO_CONTAINER" >/dev/null 2>&1; then
	run kap create "$DEMO_CONTAINER"
fi
run kap list
run kap run "$DEMO_CONTAINER" -- sh -c 'echo "inside $(hostname) as $(id -un), home $HOME"'

step "Updates: check (exit status 100 = updates available), then list"
set +e
run kapsule-update check
code=$?
set -e
echo "(exit status $code)"
run kapsule-update list
run kapsule-update status

step "A stock PackageKit client against the container"
run kapsule-update client "$DEMO_CONTAINER" -- pkcon get-updates

step "Every container's PackageKit on the session bus"
run dbus-send --session --print-reply --dest=org.kde.kapsule /org/kde/kapsule org.kde.kapsule.Manager.ListUpdateSources

cat <<DONE

Done. Try it yourself as the demo user:
  setpriv --reuid=$uid --regid=$gid --init-groups env XDG_RUNTIME_DIR=$runtime DBUS_SESSION_BUS_ADDRESS=unix:path=$runtime/bus PATH=$DEMO_PREFIX/bin:\$PATH HOME=$home bash
  kap enter $DEMO_CONTAINER            # your shell inside
  kapsule-update apply --yes        # installs the pending update
Remove everything the demo made with: make demo-clean
DONE
