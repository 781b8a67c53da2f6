# shellcheck shell=bash
# Shared helpers for Kapsule's test bed scripts. Sourced, never run.

TESTBED_STATE=${TESTBED_STATE:-/var/lib/kapsule-testbed}
TESTBED_CACHE=${TESTBED_CACHE:-/var/cache/kapsule-testbed}
TESTBED_LOG=${TESTBED_LOG:-/var/log/kapsule-testbed}
TESTBED_USER=${TESTBED_USER:-kaptest}
TESTBED_UID=${TESTBED_UID:-2000}
TESTBED_IMAGE_ALIAS=${TESTBED_IMAGE_ALIAS:-kapsule-test/debian-12}
INCUS_SOCKET=${INCUS_SOCKET:-/var/lib/incus/unix.socket}
# The restricted test user: in group incus but not incus-admin, so Incus
# serves it only through incus-user's socket and its project user-<uid>.
TESTBED_RESTRICTED_USER=${TESTBED_RESTRICTED_USER:-kapuser}
TESTBED_RESTRICTED_UID=${TESTBED_RESTRICTED_UID:-2001}
TESTBED_RESTRICTED_PROJECT=user-$TESTBED_RESTRICTED_UID
INCUS_USER_SOCKET=${INCUS_USER_SOCKET:-$(dirname "$INCUS_SOCKET")/unix.socket.user}

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "run as root (the test bed installs packages and starts incusd)"; }

# debian_mirror prints the URI of the machine's Debian main archive.
debian_mirror() {
	local uri=""
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
		uri=$(awk '$1=="deb" && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^(http|https|file):/) {print $i; exit}}' /etc/apt/sources.list)
	fi
	echo "${uri:-http://deb.debian.org/debian}"
}

incus_up() { incus query /1.0 >/dev/null 2>&1; }
