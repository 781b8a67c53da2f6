#!/bin/bash
# make demo-clean: remove what make demo made (the demo user with its home,
# session bus and kapsuled, the demo container, the install under
# /opt/kapsule-demo). The test bed (Incus, the test image) stays.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/testbed/lib.sh"
need_root
DEMO_USER=${DEMO_USER:-kapdemo}
DEMO_PREFIX=${DEMO_PREFIX:-/opt/kapsule-demo}
DEMO_CONTAINER=${DEMO_CONTAINER:-demo}

if incus info "$DEMO_CONTAINER" >/dev/null 2>&1; then
	if [ "$(incus config get "$DEMO_CONTAINER" user.kapsule.managed)" = true ]; then
		incus delete --force "$DEMO_CONTAINER" && echo "deleted container $DEMO_CONTAINER"
	else
		echo "left $DEMO_CONTAINER alone: it is not a Kapsule container"
	fi
fi
if id "$DEMO_USER" >/dev/null 2>&1; then
	uid=$(id -u "$DEMO_USER")
	pkill -u "$uid" -x kapsuled 2>/dev/null
	pkill -u "$uid" -x dbus-daemon 2>/dev/null
	sleep 0.5
	pkill -9 -u "$uid" 2>/dev/null
	userdel -r "$DEMO_USER" 2>/dev/null && echo "removed user $DEMO_USER and its home"
	groupdel "$DEMO_USER" 2>/dev/null
	rm -rf "/run/user/$uid"
	for f in /etc/subuid /etc/subgid; do sed -i "/^root:$uid:1\$/d" "$f"; done
fi
if [ -d "$DEMO_PREFIX" ]; then
	rm -rf "$DEMO_PREFIX" && echo "removed $DEMO_PREFIX"
fi
exit 0
