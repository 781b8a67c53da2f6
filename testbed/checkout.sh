#!/bin/bash
# Lets the test users into this checkout: end-to-end tests run as them,
# from the package directories, reading bin/ and data/. A checkout in a
# directory only root may enter (mktemp -d makes them 0700), or cloned under
# a umask that keeps others out, gets ACL entries for exactly the test users.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root
top=$(cd "$(dirname "$0")/.." && pwd)

as() { local u=$1; shift; setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups "$@"; }

for u in "$TESTBED_USER" "$TESTBED_RESTRICTED_USER"; do
	id "$u" >/dev/null 2>&1 || continue
	d=$top
	while :; do
		if ! as "$u" test -x "$d"; then
			setfacl -m "u:$u:rx" "$d"
			log "$u may now enter $d (it may not otherwise)"
		fi
		[ "$d" = / ] && break
		d=$(dirname "$d")
	done
	if ! as "$u" test -r "$top/go.mod"; then
		# Also what is built later (bin/): a default entry on directories.
		setfacl -R -m "u:$u:rX" "$top"
		find "$top" -type d -exec setfacl -d -m "u:$u:rX" {} +
		log "$u may now read the checkout $top"
	fi
done
log "checkout $top open to the test users"
