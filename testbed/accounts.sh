# shellcheck shell=bash
# The test bed's users: accounts, their desktop session (runtime directory,
# session bus), and the facts tests read about them. Sourced after lib.sh,
# never run. Kept apart from lib.sh, which is part of the test image's
# recipe: a change here does not rebuild the image.

# ensure_user NAME ID GROUP...: the user NAME with uid and gid ID (a group of
# its own), a home, a bash login shell, and membership in each GROUP.
ensure_user() {
	local name=$1 id=$2 g
	shift 2
	if ! id "$name" >/dev/null 2>&1; then
		log "creating user $name ($id)"
		getent group "$id" >/dev/null || groupadd -g "$id" "$name"
		useradd -m -u "$id" -g "$id" -s /bin/bash "$name"
	fi
	for g in "$@"; do
		getent group "$g" >/dev/null || groupadd -r "$g"
		in_group "$name" "$g" || usermod -aG "$g" "$name"
	done
}

in_group() { id -nG "$1" | tr ' ' '\n' | grep -qx "$2"; }

# root_may_map UID GID: lets root map the user's own ids into containers
# (raw.idmap "uid U U / gid G G"), so a home bind mount keeps its owner
# inside. incus-user reads these when it sets a user up.
root_may_map() {
	local uid=$1 gid=$2 f id
	for f in /etc/subuid /etc/subgid; do
		touch "$f"
		id=$uid; [ "$f" = /etc/subgid ] && id=$gid
		grep -q "^root:$id:1\$" "$f" || echo "root:$id:1" >>"$f"
	done
}

# as_user NAME COMMAND...: runs COMMAND as NAME, in its desktop session
# environment (home, runtime directory, session bus), from its home.
as_user() {
	local name=$1 uid home
	shift
	uid=$(id -u "$name"); home=$(getent passwd "$name" | cut -d: -f6)
	(cd "$home" && setpriv --reuid="$uid" --regid="$(id -g "$name")" --init-groups \
		env -i HOME="$home" USER="$name" LOGNAME="$name" PATH=/usr/local/bin:/usr/bin:/bin \
		XDG_RUNTIME_DIR="/run/user/$uid" DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/$uid/bus" \
		"$@")
}

# ensure_session_bus NAME: the user's XDG_RUNTIME_DIR (/run/user/UID) and a
# session bus at /run/user/UID/bus, started unless it answers: the way a
# desktop session runs Kapsule.
ensure_session_bus() {
	local name=$1 uid runtime bus
	uid=$(id -u "$name")
	runtime=/run/user/$uid
	bus=$runtime/bus
	install -d -m 0700 -o "$uid" -g "$(id -g "$name")" "$runtime"
	if bus_answers "$name"; then return; fi
	rm -f "$bus"
	log "starting the session bus of $name at $bus"
	as_user "$name" dbus-daemon --session --address="unix:path=$bus" --fork --nopidfile --syslog-only
	for _ in $(seq 1 20); do bus_answers "$name" && return; sleep 0.1; done
	die "the session bus of $name did not come up"
}

bus_answers() {
	[ -S "/run/user/$(id -u "$1")/bus" ] && as_user "$1" dbus-send --session --print-reply \
		--dest=org.freedesktop.DBus / org.freedesktop.DBus.GetId >/dev/null 2>&1
}

# env_set: merges the KEY=VALUE lines on stdin into $TESTBED_STATE/env,
# the facts end-to-end tests read (testbed/testbed.go): those keys are
# replaced, the others kept. Tests may be reading it while a set-up runs:
# the file is replaced whole, never rewritten in place, and set-ups that
# run at the same time take turns.
env_set() {
	local file="$TESTBED_STATE/env" new keys tmp lock
	mkdir -p "$TESTBED_STATE"
	new=$(cat)
	keys=$(sed -n 's/^\([A-Za-z0-9_]*\)=.*/\1/p' <<<"$new" | paste -sd'|')
	exec {lock}>"$file.lock"
	flock "$lock"
	tmp=$(mktemp "$file.XXXXXX")
	{
		if [ -f "$file" ]; then grep -Ev "^($keys)=" "$file" || true; fi
		printf '%s\n' "$new"
	} >"$tmp"
	chmod 0644 "$tmp"
	mv "$tmp" "$file"
	exec {lock}>&-
}
